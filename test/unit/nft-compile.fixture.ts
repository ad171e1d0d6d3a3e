// A small two-node, two-cluster state for the nft compiler tests, built by hand (no scenario loader), plus
// helpers that read chains and sets back out of the rendered text.
import type { ClusterState, NetworkPolicy, Pod } from '../../src/policy/model.ts';
import { METADATA_NAME_LABEL } from '../../src/policy/model.ts';

export function pod(
  ns: string,
  name: string,
  node: string,
  ip: string,
  labels: Record<string, string>,
  ports: Pod['ports'] = [{ port: 80, protocol: 'TCP' }],
  cluster = 'c1',
): Pod {
  return { namespace: ns, name, node, cluster, ip, labels, ports };
}

export function policy(ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: ns, name },
    spec,
  };
}

export function baseState(policies: NetworkPolicy[], extraPods: Pod[] = []): ClusterState {
  return {
    namespaces: ['x', 'y'].map((n) => ({ name: n, labels: { ns: n, [METADATA_NAME_LABEL]: n } })),
    nodes: [
      { name: 'n1', cluster: 'c1', ip: '198.18.0.10', podCIDR: '10.1.1.0/24' },
      { name: 'n2', cluster: 'c1', ip: '198.18.0.11', podCIDR: '10.1.2.0/24' },
      { name: 'm1', cluster: 'c2', ip: '198.18.1.10', podCIDR: '10.2.1.0/24' },
    ],
    externals: [{ name: 'e1', ip: '198.19.0.10' }],
    pods: [
      pod('x', 'a', 'n1', '10.1.1.10', { pod: 'a' }, [
        { port: 80, protocol: 'TCP', name: 'http' },
        { port: 53, protocol: 'UDP', name: 'dns' },
      ]),
      pod('x', 'b', 'n1', '10.1.1.11', { pod: 'b' }, [{ port: 8080, protocol: 'TCP', name: 'http' }]),
      pod('y', 'c', 'n2', '10.1.2.10', { pod: 'c' }, [{ port: 81, protocol: 'TCP', name: 'http' }]),
      pod('y', 'd', 'n2', '10.1.2.11', { pod: 'd' }),
      pod('x', 'a', 'm1', '10.2.1.10', { pod: 'a' }, [{ port: 80, protocol: 'TCP', name: 'http' }], 'c2'),
      ...extraPods,
    ],
    policies,
  };
}

/** Lines of one chain's body (without the braces), or undefined when the chain is absent. */
export function chainBody(text: string, name: string): string[] | undefined {
  const m = new RegExp(`\\n\\tchain ${name.replace(/[.]/g, '\\.')} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(text);
  return m ? m[1]!.split('\n').map((l) => l.trim()) : undefined;
}

export function chainNames(text: string): string[] {
  return [...text.matchAll(/\n\tchain (\S+) \{/g)].map((m) => m[1]!);
}

/** Elements of a named set, as rendered. */
export function setElements(text: string, name: string): string[] {
  const m = new RegExp(`\\n\\tset ${name} \\{[\\s\\S]*?elements = \\{ ([^}]*) \\}`).exec(text);
  if (!m) throw new Error(`set ${name} not found`);
  return m[1]!.split(', ');
}

export function setFlags(text: string, name: string): { type: string; interval: boolean } {
  const m = new RegExp(`\\n\\tset ${name} \\{\\n\\t\\ttype ([^\\n]+)\\n(\\t\\tflags interval\\n)?`).exec(
    text,
  );
  if (!m) throw new Error(`set ${name} not found`);
  return { type: m[1]!, interval: !!m[2] };
}

/** Set names referenced by a line, e.g. `ip saddr @pods4_ab… meta l4proto . th dport @ports_cd…`. */
export function refs(line: string): string[] {
  return [...line.matchAll(/@(\w+)/g)].map((m) => m[1]!);
}
