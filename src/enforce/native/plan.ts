// What a node's ruleset must express, resolved from the engine's compiled state: for each pod on the node and
// each direction it is isolated in, the policies that select it; for each policy rule, the concrete peer
// addresses and (protocol, port) ranges. No nft syntax here (render.ts turns this into text); no selector logic
// either (the engine's compileState/rulePeerSet/peerBits own that).
import type { IPBlock, NetworkPolicyPort, Pod, PolicyType, Protocol } from '../../policy/model.ts';
import { resolvePort, rulePeerSet, type CompiledPolicy, type CompiledRule, type CompiledState } from '../../policy/engine.ts';
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
  /** Policy chains to jump to, in policy order; empty means the pod is isolated and nothing is allowed. */
  chains: string[];
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

/** A rule's `ports` as concrete ranges at `dstPod` (ingress) or for any destination (egress: named ports skipped). */
export function numericPorts(ports: NetworkPolicyPort[] | undefined, dstPod: Pod | undefined, skipNamed: boolean): PortElem[] | null {
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
  for (const i of pods) {
    const ip = cs.endpoints[i]!.ip;
    (isV6(ip) ? m.pods6 : m.pods4).push(ip);
  }
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
  for (const i of bitIndices(rulePeerSet(cs, rule, cluster))) {
    if (i >= cs.podCount) continue;
    const ep = cs.endpoints[i]!;
    for (const rp of named) {
      const r = resolvePort(rp, ep.pod);
      if (r) out.push({ ip: ep.ip, protocol: r.protocol, port: r.from });
    }
  }
  return out;
}

function ruleMatch(cs: CompiledState, rule: CompiledRule, cluster: string, dstPod: Pod | undefined, addrMemo: Map<CompiledRule, AddrMatch | null>): RuleMatch | null {
  let addrs = addrMemo.get(rule);
  if (addrs === undefined) {
    addrs = ruleAddrs(cs, rule, cluster);
    addrMemo.set(rule, addrs);
  }
  const egress = rule.direction === 'Egress';
  const ports = numericPorts(rule.ports, dstPod, egress);
  const dests = egress ? egressDests(cs, rule, cluster) : [];
  const emptyAddrs = addrs !== null && !addrs.pods4.length && !addrs.pods6.length && !addrs.cidr4.length && !addrs.cidr6.length;
  const numericLive = !emptyAddrs && (ports === null || ports.length > 0);
  if (!numericLive && dests.length === 0) return null;
  return { addrs, ports: numericLive ? ports : PROTO_ALL, dests };
}

/** Memo shared by every node of one compiled state: policy chains are identical on all nodes of a cluster. */
interface ClusterMemo {
  addrs: Map<CompiledRule, AddrMatch | null>;
  /** key `dir|policyIndex|variant` → chain, or null when the policy allows nothing in that direction. */
  chains: Map<string, PolicyChainPlan | null>;
}

const memos = new WeakMap<CompiledState, Map<string, ClusterMemo>>();

function clusterMemo(cs: CompiledState, cluster: string): ClusterMemo {
  let byCluster = memos.get(cs);
  if (!byCluster) memos.set(cs, (byCluster = new Map()));
  let m = byCluster.get(cluster);
  if (!m) byCluster.set(cluster, (m = { addrs: new Map(), chains: new Map() }));
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

function policyChain(cs: CompiledState, memo: ClusterMemo, cluster: string, dir: PolicyType, cp: CompiledPolicy, pod: Pod, namer: ChainNamer): PolicyChainPlan | null {
  const rules = dir === 'Ingress' ? cp.ingress : cp.egress;
  const variant = dir === 'Ingress' && rules.some((r) => r.hasNamedPort) ? ingressVariant(cp, pod) : '';
  const key = `${dir}|${cp.index}|${variant}`;
  const hit = memo.chains.get(key);
  if (hit !== undefined) return hit;
  const matches: RuleMatch[] = [];
  for (const rule of rules) {
    const m = ruleMatch(cs, rule, cluster, dir === 'Ingress' ? pod : undefined, memo.addrs);
    if (m) matches.push(m);
  }
  const chain = matches.length ? { name: namer(dir, cp, variant), direction: dir, policy: cp.key, rules: matches } : null;
  memo.chains.set(key, chain);
  return chain;
}

/** The plan for one node: only its own pods are dispatched (each node enforces its own pods, both directions). */
export function planNode(cs: CompiledState, node: string, namer: ChainNamer): NodePlan {
  const info = cs.state.nodes.find((n) => n.name === node);
  if (!info) throw new Error(`unknown node '${node}'`);
  const memo = clusterMemo(cs, info.cluster);
  const plan: NodePlan = { node, cluster: info.cluster, ingress: [], egress: [], chains: new Map() };
  for (let i = 0; i < cs.podCount; i++) {
    const ep = cs.endpoints[i]!;
    const pod = ep.pod!;
    if (pod.node !== node) continue;
    for (const dir of ['Ingress', 'Egress'] as const) {
      const isolating = (dir === 'Ingress' ? cs.ingressBy : cs.egressBy)[i]!;
      if (isolating.length === 0) continue;
      const chains: string[] = [];
      for (const pi of isolating) {
        const chain = policyChain(cs, memo, info.cluster, dir, cs.policies[pi]!, pod, namer);
        if (!chain) continue;
        plan.chains.set(chain.name, chain);
        chains.push(chain.name);
      }
      (dir === 'Ingress' ? plan.ingress : plan.egress).push({ ref: ep.ref, ip: ep.ip, chains });
    }
  }
  return plan;
}
