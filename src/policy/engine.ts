// NetworkPolicy v1 semantics: what Kubernetes decides for a flow, and why. Pure, no I/O.
//
// Exported API (reused by the nftables compiler and the overlay control plane; do not re-implement selectors):
//   matchesSelector(labels, selector)             label selector match (re-exported from selectors.ts)
//   normalizePolicyTypes(policy)                  API-server defaulting of policyTypes
//   compileState(state) → CompiledState           endpoints numbered (pods, nodes, externals), selectors evaluated
//                                                 once, per policy its selected pods, per rule its peers (bitsets);
//                                                 cached per state object (states are immutable)
//   selectedPods(state, policy, cluster?)         pods the policy selects (each enforced by its own cluster)
//   peerEndpoints(state, policy, peer, cluster)   endpoints a peer names when enforced by `cluster`
//   rulePeerEndpoints(state, rule, cluster)       the same for a whole rule (absent/empty from/to = everything)
//   resolvePort(rulePort, dstPod)                 concrete {protocol, from, to} of a policy port at a destination
//   rulePortsMatch(ports, protocol, port, dstPod) whether a rule's ports admit a flow
//   verdict(state, flow) → Verdict                per-direction verdicts with reasons, combined; flow.family picks
//                                                 the addresses ipBlocks see (absent: first common family)
//   flowFamily(cs, flow)                          the family a flow uses
//   egressAllowed / ingressAllowed(cs, i, ...)    whole rows/columns as bitsets, for truth tables
//
// For enforcement (nft sets, SaP rules): a rule with `allPeers` admits ANY address, and an ipBlock covers
// addresses no endpoint of the scenario has; render those as CIDRs (`rule.peers[k].ipBlock`), and use the
// endpoint bitsets for selector peers only. Endpoint bitsets describe the scenario's endpoints, nothing more.
//
// Semantics (see /work/shared/REFERENCES.md): isolation per direction; union of allows; a flow is allowed iff
// the source's egress AND the destination's ingress allow it; traffic from a pod's own node is always allowed;
// pod→itself is 'undefined'; nodes and external hosts are never isolated; each endpoint's policies are enforced
// by its own cluster, where peers of another cluster (and non-pods) can be matched by ipBlock only.
import type {
  ClusterState,
  Flow,
  IPFamily,
  NetworkPolicy,
  NetworkPolicyPeer,
  Pod,
  Protocol,
} from './model.ts';
import { commonFamilies } from './family.ts';
import { type Bitset, bitAndOrInto, bitHas, bitIndices, bitOrInto, bitSet, newBitset } from './bitset.ts';
import {
  compileState,
  endpointIndex,
  peerBits,
  rulePeerSet,
  type CompiledRule,
  type CompiledState,
  type Endpoint,
} from './compile.ts';
import { describePorts, resolveFlowPort, rulePortsMatch } from './ports.ts';

export { matchesSelector, normalizePolicyTypes, selectorKey } from './selectors.ts';
export { resolvePort, resolveFlowPort, rulePortsMatch, type PortRange } from './ports.ts';
export { ipInBlock } from './ipblock.ts';
export {
  compileState,
  endpointIndex,
  rulePeerSet,
  type CompiledState,
  type CompiledPolicy,
  type CompiledRule,
  type Endpoint,
} from './compile.ts';

export interface DirectionVerdict {
  allowed: boolean;
  /** Whether any policy of this direction selects the endpoint that enforces it. */
  isolated: boolean;
  reason: string;
  /** Rules that allowed the flow, as `ns/name#rule-index`. */
  policies?: string[];
}

export interface Verdict {
  /** 'undefined' for a pod reaching itself: the spec leaves it open, so pass/fail ignores it. */
  allowed: boolean | 'undefined';
  /** The connection's address family (the flow's, or the first both endpoints have). */
  family?: IPFamily;
  ingress: DirectionVerdict;
  egress: DirectionVerdict;
}

function compiled(state: ClusterState | CompiledState): CompiledState {
  return 'endpoints' in state && 'caches' in state ? state : compileState(state);
}

function findPolicy(cs: CompiledState, policy: NetworkPolicy) {
  const cp =
    cs.policies.find((p) => p.policy === policy) ??
    cs.policies.find(
      (p) =>
        p.policy.metadata.namespace === policy.metadata.namespace &&
        p.policy.metadata.name === policy.metadata.name,
    );
  if (!cp)
    throw new Error(`policy ${policy.metadata.namespace}/${policy.metadata.name} is not part of this state`);
  return cp;
}

/** Pods the policy selects: its namespace's pods matching podSelector (optionally of one cluster only). */
export function selectedPods(
  state: ClusterState | CompiledState,
  policy: NetworkPolicy,
  cluster?: string,
): Pod[] {
  const cs = compiled(state);
  return bitIndices(findPolicy(cs, policy).selected)
    .map((i) => cs.endpoints[i]!.pod!)
    .filter((p) => cluster === undefined || p.cluster === cluster);
}

/** Endpoints a peer of `policy` names when the policy is enforced by `cluster`. */
export function peerEndpoints(
  state: ClusterState | CompiledState,
  policy: NetworkPolicy,
  peer: NetworkPolicyPeer,
  cluster: string,
  family?: IPFamily,
): Endpoint[] {
  const cs = compiled(state);
  return bitIndices(peerBits(cs, policy.metadata.namespace, peer, cluster, family)).map(
    (i) => cs.endpoints[i]!,
  );
}

/** Endpoints a compiled rule admits as peers when enforced by `cluster` (for connections of `family`). */
export function rulePeerEndpoints(
  state: ClusterState | CompiledState,
  rule: CompiledRule,
  cluster: string,
  family?: IPFamily,
): Endpoint[] {
  const cs = compiled(state);
  return bitIndices(rulePeerSet(cs, rule, cluster, family)).map((i) => cs.endpoints[i]!);
}

/**
 * The family a flow uses: its own, else the first family both endpoints have. A flow of a family one endpoint
 * lacks cannot exist (there is no address to send to): that is a caller error. Endpoints that share no family
 * (a hand-built state mixing an IPv6 pod into an IPv4 world) give undefined: ipBlocks then see every address.
 */
export function flowFamily(state: ClusterState | CompiledState, flow: Flow): IPFamily | undefined {
  const cs = compiled(state);
  const src = cs.endpoints[endpointIndex(cs, flow.from)]!;
  const dst = cs.endpoints[endpointIndex(cs, flow.to)]!;
  const common = commonFamilies(src, dst);
  if (flow.family !== undefined) {
    if (!common.includes(flow.family))
      throw new Error(
        `${flow.from} -> ${flow.to}: no ${flow.family} address on both ends (common: ${common.join(', ') || 'none'})`,
      );
    return flow.family;
  }
  return common[0];
}

function portText(flow: Pick<Flow, 'port' | 'protocol'>, resolved: number | undefined): string {
  if (typeof flow.port === 'number') return `${flow.port}/${flow.protocol}`;
  return resolved === undefined
    ? `${flow.port}/${flow.protocol} (no such named port at the destination)`
    : `${flow.port}(=${resolved})/${flow.protocol}`;
}

function direction(
  cs: CompiledState,
  dir: 'Ingress' | 'Egress',
  src: Endpoint,
  dst: Endpoint,
  protocol: Protocol,
  port: number | undefined,
  portDesc: string,
  family: IPFamily | undefined,
): DirectionVerdict {
  const local = dir === 'Ingress' ? dst : src;
  const remote = dir === 'Ingress' ? src : dst;
  const word = dir.toLowerCase();
  if (local.kind !== 'pod')
    return {
      allowed: true,
      isolated: false,
      reason: `${local.ref} is not a pod: no policy isolates it for ${word}`,
    };
  const isolating = (dir === 'Ingress' ? cs.ingressBy : cs.egressBy)[local.index]!;
  const isolated = isolating.length > 0;
  if (dir === 'Ingress' && src.kind === 'node' && dst.nodeIndex === src.index)
    return {
      allowed: true,
      isolated,
      reason: `${src.ref} hosts ${dst.ref}: traffic from a pod's own node is always allowed`,
    };
  if (!isolated)
    return {
      allowed: true,
      isolated: false,
      reason: `no policy with ${dir} selects ${local.ref}: ${word} not isolated`,
    };
  const allowedBy: string[] = [];
  for (const pi of isolating) {
    const cp = cs.policies[pi]!;
    for (const rule of dir === 'Ingress' ? cp.ingress : cp.egress) {
      if (!bitHas(rulePeerSet(cs, rule, local.cluster!, family), remote.index)) continue;
      if (rulePortsMatch(rule.ports, protocol, port, dst.pod)) allowedBy.push(rule.id);
    }
  }
  const names = isolating.map((pi) => cs.policies[pi]!.key).join(', ');
  if (allowedBy.length > 0)
    return {
      allowed: true,
      isolated,
      reason: `${word} of ${local.ref} allowed by ${allowedBy.join(', ')}`,
      policies: allowedBy,
    };
  return {
    allowed: false,
    isolated,
    reason: `${local.ref} is isolated for ${word} by ${names}; no ${word} rule admits ${remote.ref} on ${portDesc}${familyNote(cs, family)}`,
  };
}

/** The verdict for one flow, with each direction's reason. */
export function verdict(state: ClusterState | CompiledState, flow: Flow): Verdict {
  const cs = compiled(state);
  const src = cs.endpoints[endpointIndex(cs, flow.from)]!;
  const dst = cs.endpoints[endpointIndex(cs, flow.to)]!;
  const port = resolveFlowPort(flow.port, flow.protocol, dst.pod);
  const desc = portText(flow, port);
  const family = flowFamily(cs, flow);
  const egress = direction(cs, 'Egress', src, dst, flow.protocol, port, desc, family);
  const ingress = direction(cs, 'Ingress', src, dst, flow.protocol, port, desc, family);
  const allowed = src.index === dst.index ? 'undefined' : egress.allowed && ingress.allowed;
  return { allowed, ...(family ? { family } : {}), ingress, egress };
}

/** ` over IPv6` when the state has more than one family, so single-stack reasons read as before. */
function familyNote(cs: CompiledState, family: IPFamily | undefined): string {
  return family && cs.families.length > 1 ? ` over ${family}` : '';
}

/** One-line description of the rules a policy carries, for explanations. */
export function describeRule(rule: CompiledRule): string {
  const peers = rule.allPeers ? 'any peer' : `${rule.peers!.length} peer(s)`;
  return `${rule.id} (${rule.direction}: ${peers}, ${describePorts(rule.ports)})`;
}

/**
 * Whether a rule's ports admit (protocol, port): a plain answer when no destination changes it, else the set of
 * destinations whose own resolution admits it (named ports mean a different number at each destination).
 */
function portMatchSet(
  cs: CompiledState,
  rule: CompiledRule,
  protocol: Protocol,
  port: number | string,
): boolean | Bitset {
  if (typeof port === 'number' && !rule.hasNamedPort)
    return rulePortsMatch(rule.ports, protocol, port, undefined);
  const key = `${protocol}|${port}|${JSON.stringify(rule.ports ?? [])}`;
  let b = cs.caches.portMatch.get(key);
  if (!b) {
    b = newBitset(cs.endpoints.length);
    for (const e of cs.endpoints)
      if (rulePortsMatch(rule.ports, protocol, resolveFlowPort(port, protocol, e.pod), e.pod))
        bitSet(b, e.index);
    cs.caches.portMatch.set(key, b);
  }
  return b;
}

/**
 * Destinations `src` may send to on (protocol, port) as far as its own egress is concerned, as a bitset over
 * endpoint indices; null when `src` is not isolated for egress (everything allowed). With `family`, ipBlocks see
 * only that family's addresses (the row is then meaningful only for destinations that have that family).
 */
export function egressAllowed(
  cs: CompiledState,
  src: number,
  protocol: Protocol,
  port: number | string,
  family?: IPFamily,
): Bitset | null {
  const isolating = cs.egressBy[src]!;
  if (isolating.length === 0) return null;
  const cluster = cs.endpoints[src]!.cluster!;
  const out = newBitset(cs.endpoints.length);
  for (const pi of isolating) {
    for (const rule of cs.policies[pi]!.egress) {
      const pm = portMatchSet(cs, rule, protocol, port);
      if (pm === true) bitOrInto(out, rulePeerSet(cs, rule, cluster, family));
      else if (pm !== false) bitAndOrInto(out, rulePeerSet(cs, rule, cluster, family), pm);
    }
  }
  return out;
}

/**
 * Sources `dst` accepts on (protocol, port) as far as its own ingress is concerned (its own node included);
 * null when `dst` is not isolated for ingress.
 */
export function ingressAllowed(
  cs: CompiledState,
  dst: number,
  protocol: Protocol,
  port: number | string,
  family?: IPFamily,
): Bitset | null {
  const isolating = cs.ingressBy[dst]!;
  if (isolating.length === 0) return null;
  const ep = cs.endpoints[dst]!;
  const flowPort = resolveFlowPort(port, protocol, ep.pod);
  const out = newBitset(cs.endpoints.length);
  if (ep.nodeIndex !== undefined) bitSet(out, ep.nodeIndex);
  for (const pi of isolating)
    for (const rule of cs.policies[pi]!.ingress)
      if (rulePortsMatch(rule.ports, protocol, flowPort, ep.pod))
        bitOrInto(out, rulePeerSet(cs, rule, ep.cluster!, family));
  return out;
}
