// A fake "CNI" for the in-process API server: it answers `agnhost connect` execs by asking the semantics
// engine about the API server's *current* objects (namespaces, pods, NetworkPolicies as posted), the way a
// real CNI judges a new connection. Because it reads only what the driver wrote, a wrong request (a lost
// peer, an unpatched label, a policy in the wrong namespace) shows up as a wrong cell.
import type { FakeKube } from '../support/k8s-fake/server.ts';
import { verdict } from '../../src/policy/engine.ts';
import type { ClusterState, ContainerPort, NetworkPolicy, Protocol } from '../../src/policy/model.ts';
import type { Topology } from '../../src/scenario/types.ts';
import { MANAGED_LABEL } from '../../src/platform/kubernetes/objects.ts';
import { directOverlayIp } from '../../reference-impl/control-plane/addressing.ts';

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: { podIP?: string };
}

export function apiState(kube: FakeKube, topology: Topology): ClusterState {
  const namespaces = (kube.store.list('namespaces') as unknown as Obj[]).map((n) => ({
    name: n.metadata.name,
    labels: n.metadata.labels ?? {},
  }));
  const pods = (kube.store.list('pods') as unknown as Obj[]).map((p) => {
    const spec = p.spec as {
      nodeSelector?: Record<string, string>;
      containers: { ports?: { containerPort: number; protocol?: Protocol; name?: string }[] }[];
    };
    const node = spec.nodeSelector?.['testbed.io/node'] ?? '';
    const labels = { ...(p.metadata.labels ?? {}) };
    delete labels[MANAGED_LABEL];
    delete labels['overlay.testbed.io/managed'];
    const ports: ContainerPort[] = spec.containers.flatMap((c) =>
      (c.ports ?? []).map((cp) => ({
        port: cp.containerPort,
        protocol: cp.protocol ?? 'TCP',
        ...(cp.name ? { name: cp.name } : {}),
      })),
    );
    const cluster =
      topology.clusters.find((c) => c.nodes.some((n) => n.name === node))?.name ?? topology.clusters[0]!.name;
    return {
      namespace: p.metadata.namespace!,
      name: p.metadata.name,
      labels,
      node,
      cluster,
      ip: p.status?.podIP ?? '',
      ports,
    };
  });
  const policies = kube.store.list('networkpolicies') as unknown as NetworkPolicy[];
  const nodes = topology.clusters.flatMap((c) =>
    c.nodes.map((n) => ({ name: n.name, cluster: c.name, ip: n.ip, podCIDR: n.podCIDR })),
  );
  return { namespaces, pods, nodes, externals: [], policies };
}

/** Installs the engine-backed exec handler; `log` collects every argv it was asked to run. */
export function engineCni(kube: FakeKube, topology: Topology, log: string[][] = []): string[][] {
  kube.exec.handler = (ns, pod, _container, argv) => {
    log.push(argv);
    if (argv[0] !== '/agnhost' || argv[1] !== 'connect')
      return { code: 127, stderr: `not a probe: ${argv.join(' ')}` };
    const [ip, port] = argv[2]!.replace(/^\[(.*)\]/, '$1').split(/:(?=\d+$)/) as [string, string];
    const protocol = (/--protocol=(\w+)/.exec(argv.join(' '))?.[1] ?? 'tcp').toUpperCase() as Protocol;
    const state = apiState(kube, topology);
    // A destination by its pod address, or by its overlay address (the overlay's pure mapping of it).
    const dst = state.pods.find((p) => p.ip === ip || directOverlayIp(p.ip) === ip);
    if (!dst) return { code: 1, stderr: 'TIMEOUT' };
    const served = dst.ports.some((p) => p.port === Number(port) && p.protocol === protocol);
    if (!served) return { code: 1, stderr: 'REFUSED' };
    const v = verdict(state, {
      from: `${ns}/${pod}`,
      to: `${dst.namespace}/${dst.name}`,
      port: Number(port),
      protocol,
    });
    return v.allowed === true ? { code: 0 } : { code: 1, stderr: 'TIMEOUT' };
  };
  return log;
}
