// Idle pods for the pod-count sweep (pure): N pods in the measured destination's namespace, spread round-robin
// over the nodes of its cluster, labelled like the destination plus `sweep: idle`. Every policy that selects the
// destination (or admits it as a peer) selects them too, so enforcers get more per-pod chains, set members,
// agents and SaP endpoints to program, the way a scaled-out deployment would; the measured flow's verdict does
// not depend on other pods, and withSweepPods checks that with the engine.
import type { ClusterState, Flow, Pod } from '../policy/model.ts';
import { verdict } from '../policy/engine.ts';
import { ADDRESS_PLAN, nthHost } from '../scenario/resolve.ts';

export const SWEEP_POD_LABEL = 'sweep';
export const SWEEP_POD_PREFIX = 'sweep-pod-';

/**
 * n idle pods modelled on `target`. Deterministic, and the first k pods for n are the pods for k, so a sweep can
 * grow the cluster step by step. Addresses are the lowest free host numbers of each node's pod CIDR.
 */
export function sweepPods(state: ClusterState, target: Pod, n: number): Pod[] {
  const nodes = state.nodes.filter((x) => x.cluster === target.cluster);
  if (!nodes.length)
    throw new Error(`cluster ${target.cluster} of ${target.namespace}/${target.name} has no nodes`);
  const used = new Set(state.pods.flatMap((p) => p.ips ?? [p.ip]));
  const names = new Set(state.pods.filter((p) => p.namespace === target.namespace).map((p) => p.name));
  const nextHost = new Map(nodes.map((x) => [x.name, ADDRESS_PLAN.firstPodHost]));
  const out: Pod[] = [];
  for (let i = 0; i < n; i++) {
    const node = nodes[i % nodes.length]!;
    const name = `${SWEEP_POD_PREFIX}${i}`;
    if (names.has(name)) throw new Error(`pod ${target.namespace}/${name} already exists in the scenario`);
    // One address per pod CIDR of the node (dual-stack: both families, one host number).
    let ips: string[];
    do {
      const k = nextHost.get(node.name)!;
      nextHost.set(node.name, k + 1);
      ips = (node.podCIDRs ?? [node.podCIDR]).map((c) => nthHost(c, k));
    } while (ips.some((a) => used.has(a)));
    for (const a of ips) used.add(a);
    const ip = ips[0]!;
    out.push({
      namespace: target.namespace,
      name,
      labels: { ...target.labels, [SWEEP_POD_LABEL]: 'idle' },
      node: node.name,
      cluster: node.cluster,
      ip,
      ...(ips.length > 1 ? { ips } : {}),
      ports: target.ports.map((p) => ({ ...p })),
    });
  }
  return out;
}

/**
 * The state with n idle pods added (and the pods, in the order to add them), or the reason the sweep cannot run
 * on this flow.
 */
export function withSweepPods(
  state: ClusterState,
  flow: Flow,
  n: number,
): { state: ClusterState; added: Pod[] } | { reason: string } {
  const target = state.pods.find((p) => `${p.namespace}/${p.name}` === flow.to);
  if (!target) return { reason: `pod sweep target ${flow.to} is not a pod` };
  let added: Pod[];
  try {
    added = sweepPods(state, target, n);
  } catch (e) {
    return { reason: `pod sweep: ${(e as Error).message}` };
  }
  const next: ClusterState = { ...state, pods: [...state.pods, ...added] };
  const before = verdict(state, flow).allowed;
  const after = verdict(next, flow).allowed;
  if (before !== after)
    return {
      reason: `idle pods would change the verdict of ${flow.from} → ${flow.to} (${before} → ${after})`,
    };
  return { state: next, added };
}
