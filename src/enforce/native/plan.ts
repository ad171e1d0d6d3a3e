// What a node's ruleset must express, resolved from the engine's compiled state: for each pod on the node and
// each direction it is isolated in, the policies that select it; for each policy rule, the concrete peer
// addresses and (protocol, port) ranges. No nft syntax here (render.ts turns this into text); no selector logic
// either (the engine's compileState/rulePeerSet/peerBits own that).
import type { IPBlock, NetworkPolicyPort, Pod, PolicyType, Protocol } from '../../policy/model.ts';
import {
  resolvePort,
  rulePeerSet,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledState,
} from '../../policy/engine.ts';
import { peerBits } from '../../policy/compile.ts';
import { bitIndices } from '../../policy/bitset.ts';
import { ipBlockIntervals, type Interval } from './intervals.ts';

export interface PortElem {
  protocol: Protocol;
  from: number;
  to: number;
}

export interface AddrMatch {
  /** Pod addresses named by selector peers (of the enforcing cluster only). */
  pods4: string[];
  pods6: string[];
  /** ipBlock ranges, `except` already carved out. */
  cidr4: Interval[];
  cidr6: Interval[];
}

/** A destination-specific (address, protocol, port): an egress named port resolved at one peer pod. */
export interface DestPort {
  ip: string;
  protocol: Protocol;
  port: number;
}

export interface RuleMatch {
  /** null: any peer (`from`/`to` absent or empty). */
  addrs: AddrMatch | null;
  /** null: any protocol and port; [] : no numeric ports (the rule may still have `dests`). */
  ports: PortElem[] | null;
  /** Egress named ports, resolved per destination pod. */
  dests: DestPort[];
}

export interface PolicyChainPlan {
  name: string;
  direction: PolicyType;
  /** `ns/name` of the policy, for comments. */
  policy: string;
  rules: RuleMatch[];
}

export interface PodPlan {
  ref: string;
  ip: string;
  /** Every address of the pod (dual-stack: one per family), each dispatched to the pod's chain. */
  ips?: string[];
  /** Policy chains to jump to, in policy order; empty means the pod is isolated and nothing is allowed. */
  chains: PolicyChainPlan[];
}

export interface NodePlan {
  node: string;
  cluster: string;
  ingress: PodPlan[];
  egress: PodPlan[];
  /** Every policy chain a pod chain jumps to, by name. */
  chains: Map<string, PolicyChainPlan>;
}

const PROTO_ALL: PortElem[] = [];

function isV6(ip: string): boolean {
  return ip.includes(':');
}

/** The endpoint's IPv4 address (primary or not), if it has one. */
function v4Of(cs: CompiledState, i: number): string | undefined {
  return cs.endpoints[i]!.ips.find((a) => !isV6(a));
}

function v4Num(cs: CompiledState, i: number): number {
  const e = cs.endpoints[i]!;
  const b = e.addrs.find((a) => a.family === 4)!.bytes;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** A rule's `ports` as concrete ranges at `dstPod` (ingress) or for any destination (egress: named ports skipped). */
export function numericPorts(
  ports: NetworkPolicyPort[] | undefined,
  dstPod: Pod | undefined,
  skipNamed: boolean,
): PortElem[] | null {
  if (!ports || ports.length === 0) return null;
  const out: PortElem[] = [];
  for (const rp of ports) {
    if (typeof rp.port === 'string' && skipNamed) continue;
    const r = resolvePort(rp, dstPod);
    if (!r) continue;
    // A protocol-only entry means every port of it, port 0 included.
    out.push({ protocol: r.protocol, from: rp.port === undefined ? 0 : r.from, to: r.to });
  }
  return out;
}

/** Peer addresses of a rule as enforced by `cluster`; memoized per rule and cluster by the caller. */
function ruleAddrs(cs: CompiledState, rule: CompiledRule, cluster: string): AddrMatch | null {
  if (rule.allPeers) return null;
  const ns = rule.policy.policy.metadata.namespace;
  const blocks: IPBlock[] = [];
  const pods = new Set<number>();
  for (const peer of rule.peers!) {
    if (peer.ipBlock) {
      blocks.push(peer.ipBlock);
      continue;
    }
    for (const i of bitIndices(peerBits(cs, ns, peer, cluster))) if (i < cs.podCount) pods.add(i);
  }
  const m: AddrMatch = { pods4: [], pods6: [], cidr4: [], cidr6: [] };
  // Numeric address order, so the rendered set does not depend on pod order in the state. Selector peers are
  // family-blind: a dual-stack peer pod is named by both its addresses (each lands in its family's set).
  const v4 = [...pods].filter((i) => v4Of(cs, i) !== undefined).sort((a, b) => v4Num(cs, a) - v4Num(cs, b));
  for (const i of v4) m.pods4.push(v4Of(cs, i)!);
  for (const i of pods) for (const a of cs.endpoints[i]!.ips) if (isV6(a)) m.pods6.push(a);
  m.pods6.sort();
  if (blocks.length) {
    const { v4, v6 } = ipBlockIntervals(blocks);
    m.cidr4 = v4;
    m.cidr6 = v6;
  }
  return m;
}

/** Egress named ports: each peer pod (of any cluster when matched by ipBlock) with the port resolved at it. */
function egressDests(cs: CompiledState, rule: CompiledRule, cluster: string): DestPort[] {
  const named = (rule.ports ?? []).filter((p) => typeof p.port === 'string');
  if (named.length === 0) return [];
  const out: DestPort[] = [];
  // Per family: an ipBlock peer admits a dual-stack pod only by its address of the block's family.
  for (const family of cs.families) {
    for (const i of bitIndices(rulePeerSet(cs, rule, cluster, cs.families.length > 1 ? family : undefined))) {
      if (i >= cs.podCount) continue;
      const ep = cs.endpoints[i]!;
      const ip = cs.families.length > 1 ? ep.ips.find((a) => isV6(a) === (family === 'IPv6')) : ep.ip;
      if (ip === undefined) continue;
      for (const rp of named) {
        const r = resolvePort(rp, ep.pod);
        if (r) out.push({ ip, protocol: r.protocol, port: r.from });
      }
    }
  }
  return out;
}

const NO_DESTS: DestPort[] = [];

/** Egress named-port tuples, shared between rules with the same peers and ports (rendered once). */
function sharedDests(cs: CompiledState, rule: CompiledRule, cluster: string, memo: ClusterMemo): DestPort[] {
  let d = memo.dests.get(rule);
  if (d === undefined) {
    const key = `${rule.policy.policy.metadata.namespace}|${rule.allPeers ? '*' : JSON.stringify(rule.peers)}|${JSON.stringify(rule.ports)}`;
    d = memo.destsByKey.get(key);
    if (d === undefined) memo.destsByKey.set(key, (d = egressDests(cs, rule, cluster)));
    memo.dests.set(rule, d);
  }
  return d;
}

function ruleMatch(
  cs: CompiledState,
  rule: CompiledRule,
  cluster: string,
  dstPod: Pod | undefined,
  memo: ClusterMemo,
): RuleMatch | null {
  let addrs = memo.addrs.get(rule);
  if (addrs === undefined) {
    // Thousands of rules repeat the same peers: equal peers share one AddrMatch (and so one rendered set).
    const key = rule.allPeers ? '' : `${rule.policy.policy.metadata.namespace}|${JSON.stringify(rule.peers)}`;
    addrs = memo.addrsByKey.get(key);
    if (addrs === undefined) memo.addrsByKey.set(key, (addrs = ruleAddrs(cs, rule, cluster)));
    memo.addrs.set(rule, addrs);
  }
  const egress = rule.direction === 'Egress';
  let ports: PortElem[] | null;
  if (rule.hasNamedPort && !egress) {
    // Resolved per destination pod; equal resolutions share one object, so their port set renders once.
    const resolved = numericPorts(rule.ports, dstPod, false)!;
    const key = `r${resolved.map((p) => `${p.protocol}${p.from}-${p.to}`).join(',')}`;
    ports = memo.portsByKey.get(key) ?? null;
    if (ports === null) memo.portsByKey.set(key, (ports = resolved));
  } else {
    let hit = memo.ports.get(rule);
    if (hit === undefined) {
      const key = `${egress ? 'e' : 'i'}${JSON.stringify(rule.ports ?? [])}`;
      hit = memo.portsByKey.get(key);
      if (hit === undefined) memo.portsByKey.set(key, (hit = numericPorts(rule.ports, dstPod, egress)));
      memo.ports.set(rule, hit);
    }
    ports = hit;
  }
  const dests = egress && rule.hasNamedPort ? sharedDests(cs, rule, cluster, memo) : NO_DESTS;
  const emptyAddrs =
    addrs !== null &&
    !addrs.pods4.length &&
    !addrs.pods6.length &&
    !addrs.cidr4.length &&
    !addrs.cidr6.length;
  const numericLive = !emptyAddrs && (ports === null || ports.length > 0);
  if (!numericLive && dests.length === 0) return null;
  return { addrs, ports: numericLive ? ports : PROTO_ALL, dests };
}

/** Memo shared by every node of one compiled state: policy chains are identical on all nodes of a cluster. */
interface ClusterMemo {
  addrs: Map<CompiledRule, AddrMatch | null>;
  addrsByKey: Map<string, AddrMatch | null>;
  /** Numeric ports by content (named ingress ports are resolved per pod instead). */
  portsByKey: Map<string, PortElem[] | null>;
  ports: Map<CompiledRule, PortElem[] | null>;
  dests: Map<CompiledRule, DestPort[]>;
  destsByKey: Map<string, DestPort[]>;
  /** At `policyIndex * 2 + (egress ? 1 : 0)`: the chain, null when it allows nothing, undefined until built. */
  fixed: (PolicyChainPlan | null | undefined)[];
  /** Ingress chains of policies with named ports, by `policyIndex|resolution`. */
  variants: Map<string, PolicyChainPlan | null>;
  /** policy index → port signature id → chain. */
  variantsBySig: Map<number, Map<number, PolicyChainPlan | null>>;
  /** Container-port lists by content → small id; and each pod's id. */
  sigIds: Map<string, number>;
  podSig: Map<Pod, number>;
}

function portSignature(memo: ClusterMemo, pod: Pod): number {
  let id = memo.podSig.get(pod);
  if (id === undefined) {
    const key = JSON.stringify(pod.ports);
    id = memo.sigIds.get(key);
    if (id === undefined) memo.sigIds.set(key, (id = memo.sigIds.size));
    memo.podSig.set(pod, id);
  }
  return id;
}

const memos = new WeakMap<CompiledState, Map<string, ClusterMemo>>();

function clusterMemo(cs: CompiledState, cluster: string): ClusterMemo {
  let byCluster = memos.get(cs);
  if (!byCluster) memos.set(cs, (byCluster = new Map()));
  let m = byCluster.get(cluster);
  // Pre-sized and filled: growing a sparse array by index would drop V8 into slow dictionary elements.
  if (!m)
    byCluster.set(
      cluster,
      (m = {
        addrs: new Map(),
        addrsByKey: new Map(),
        portsByKey: new Map(),
        ports: new Map(),
        dests: new Map(),
        destsByKey: new Map(),
        fixed: new Array(cs.policies.length * 2).fill(undefined),
        variants: new Map(),
        variantsBySig: new Map(),
        sigIds: new Map(),
        podSig: new Map(),
      }),
    );
  return m;
}

/**
 * Ingress named ports resolve against the selected (destination) pod, so a policy with named ports may need a
 * different chain per pod; pods whose named ports resolve alike share one. The variant key is the resolution.
 */
function ingressVariant(cp: CompiledPolicy, pod: Pod): string {
  let key = '';
  for (const rule of cp.ingress) {
    if (!rule.hasNamedPort) continue;
    for (const rp of rule.ports!) {
      if (typeof rp.port !== 'string') continue;
      const r = resolvePort(rp, pod);
      key += `${rule.index}:${rp.port}/${rp.protocol ?? 'TCP'}=${r ? r.from : '-'};`;
    }
  }
  return key;
}

export type ChainNamer = (direction: PolicyType, policy: CompiledPolicy, variant: string) => string;

function buildChain(
  cs: CompiledState,
  memo: ClusterMemo,
  cluster: string,
  dir: PolicyType,
  cp: CompiledPolicy,
  pod: Pod,
  variant: string,
  namer: ChainNamer,
): PolicyChainPlan | null {
  const matches: RuleMatch[] = [];
  for (const rule of dir === 'Ingress' ? cp.ingress : cp.egress) {
    const m = ruleMatch(cs, rule, cluster, dir === 'Ingress' ? pod : undefined, memo);
    if (m) matches.push(m);
  }
  return matches.length
    ? { name: namer(dir, cp, variant), direction: dir, policy: cp.key, rules: matches }
    : null;
}

// Called once per (pod, selecting policy) pair, hundreds of thousands of times at 10k policies: the common
// case (no ingress named ports) is one array lookup.
function policyChain(
  cs: CompiledState,
  memo: ClusterMemo,
  cluster: string,
  dir: PolicyType,
  cp: CompiledPolicy,
  pod: Pod,
  namer: ChainNamer,
): PolicyChainPlan | null {
  const slot = cp.index * 2 + (dir === 'Egress' ? 1 : 0);
  const hit = memo.fixed[slot];
  if (hit !== undefined) return hit;
  if (dir === 'Ingress' && cp.ingress.some((r) => r.hasNamedPort)) {
    // Pods with the same container ports (replicas) resolve every name alike: cache by that, not by pod.
    const sig = portSignature(memo, pod);
    let bySig = memo.variantsBySig.get(cp.index);
    if (!bySig) memo.variantsBySig.set(cp.index, (bySig = new Map()));
    let chain = bySig.get(sig);
    if (chain === undefined) {
      const variant = ingressVariant(cp, pod);
      const key = `${cp.index}|${variant}`;
      chain = memo.variants.get(key);
      if (chain === undefined)
        memo.variants.set(key, (chain = buildChain(cs, memo, cluster, dir, cp, pod, variant, namer)));
      bySig.set(sig, chain);
    }
    return chain;
  }
  return (memo.fixed[slot] = buildChain(cs, memo, cluster, dir, cp, pod, '', namer));
}

const ranks = new WeakMap<CompiledState, Int32Array>();

/** Each policy's position in `namespace/name` order. */
function policyRank(cs: CompiledState): Int32Array {
  let r = ranks.get(cs);
  if (!r) {
    const order = cs.policies
      .map((p) => p.index)
      .sort((a, b) => {
        const ka = cs.policies[a]!.key;
        const kb = cs.policies[b]!.key;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
    r = new Int32Array(cs.policies.length);
    order.forEach((pi, pos) => (r![pi] = pos));
    ranks.set(cs, r);
  }
  return r;
}

/** The plan for one node: only its own pods are dispatched (each node enforces its own pods, both directions). */
export function planNode(cs: CompiledState, node: string, namer: ChainNamer): NodePlan {
  const info = cs.state.nodes.find((n) => n.name === node);
  if (!info) throw new Error(`unknown node '${node}'`);
  const memo = clusterMemo(cs, info.cluster);
  const plan: NodePlan = { node, cluster: info.cluster, ingress: [], egress: [], chains: new Map() };
  const used = new Set<PolicyChainPlan>();
  for (let i = 0; i < cs.podCount; i++) {
    const ep = cs.endpoints[i]!;
    const pod = ep.pod!;
    if (pod.node !== node) continue;
    for (const dir of ['Ingress', 'Egress'] as const) {
      const isolating = (dir === 'Ingress' ? cs.ingressBy : cs.egressBy)[i]!;
      if (isolating.length === 0) continue;
      const chains: PolicyChainPlan[] = [];
      // Jump order is by policy name, not by position in the state, so the text is the same for any order.
      const rank = policyRank(cs);
      for (const pi of isolating.length > 1
        ? [...isolating].sort((a, b) => rank[a]! - rank[b]!)
        : isolating) {
        const chain = policyChain(cs, memo, info.cluster, dir, cs.policies[pi]!, pod, namer);
        if (!chain) continue;
        used.add(chain);
        chains.push(chain);
      }
      (dir === 'Ingress' ? plan.ingress : plan.egress).push({
        ref: ep.ref,
        ip: ep.ip,
        ...(ep.ips.length > 1 ? { ips: ep.ips } : {}),
        chains,
      });
    }
  }
  for (const c of used) plan.chains.set(c.name, c);
  return plan;
}
