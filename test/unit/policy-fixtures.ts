// Small builders for engine tests: a cluster state from compact descriptions, without the scenario loader.
import type { ClusterState, ContainerPort, NetworkPolicy, Pod } from '../../src/policy/model.ts';
import { METADATA_NAME_LABEL } from '../../src/policy/model.ts';

export function pod(
  ref: string,
  labels: Record<string, string>,
  opts: { node?: string; ip: string; cluster?: string; ports?: ContainerPort[] },
): Pod {
  const [namespace, name] = ref.split('/') as [string, string];
  return {
    namespace,
    name,
    labels,
    node: opts.node ?? 'n1',
    cluster: opts.cluster ?? 'c1',
    ip: opts.ip,
    ports: opts.ports ?? [{ port: 80, protocol: 'TCP' }],
  };
}

export function policy(ref: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  const [namespace, name] = ref.split('/') as [string, string];
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

export function ns(name: string, labels: Record<string, string> = {}) {
  return { name, labels: { ...labels, [METADATA_NAME_LABEL]: name } };
}

/** The conformance model: namespaces x, y, z with pods a, b, c each, on two nodes of one cluster. */
export function xyz(policies: NetworkPolicy[] = []): ClusterState {
  const pods: Pod[] = [];
  ['x', 'y', 'z'].forEach((n, ni) =>
    ['a', 'b', 'c'].forEach((p, pi) =>
      pods.push(
        pod(
          `${n}/${p}`,
          { pod: p },
          {
            node: pi % 2 === 0 ? 'n1' : 'n2',
            ip: `10.1.${pi % 2 === 0 ? 1 : 2}.${10 + ni * 3 + pi}`,
            ports: [
              { port: 80, protocol: 'TCP', name: 'serve-80-tcp' },
              { port: 81, protocol: 'TCP', name: 'serve-81-tcp' },
              { port: 80, protocol: 'UDP', name: 'serve-80-udp' },
              { port: 81, protocol: 'UDP', name: 'serve-81-udp' },
            ],
          },
        ),
      ),
    ),
  );
  return {
    namespaces: [ns('x', { ns: 'x' }), ns('y', { ns: 'y' }), ns('z', { ns: 'z' })],
    pods,
    nodes: [
      { name: 'n1', cluster: 'c1', ip: '198.18.0.10', podCIDR: '10.1.1.0/24' },
      { name: 'n2', cluster: 'c1', ip: '198.18.0.11', podCIDR: '10.1.2.0/24' },
    ],
    externals: [{ name: 'out', ip: '198.19.0.10' }],
    policies,
  };
}
