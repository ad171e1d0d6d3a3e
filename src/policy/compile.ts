// The index structure behind the engine: endpoints numbered once, every selector evaluated once (cached by its
// canonical form), every policy's selected pods and every rule's peers held as bitsets over endpoint indices.
// A verdict or a truth-table cell is then a handful of bit lookups, never a selector evaluation.
import type {
  ClusterState,
  EndpointRef,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NodeInfo,
  Pod,
  PolicyType,
  IPFamily,
} from './model.ts';
import { familyOf } from './family.ts';
import { type Bitset, bitHas, bitIndices, bitOrInto, bitSet, newBitset } from './bitset.ts';
import { compileIPBlock, ipBlockContains, parseAddress, type ParsedAddress } from './ipblock.ts';
import { matchesSelector, normalizePolicyTypes, selectorKey } from './selectors.ts';

export interface Endpoint {
  index: number;
  ref: EndpointRef;
  kind: 'pod' | 'node' | 'external';
  /** Primary address (the first of `ips`). */
  ip: string;
  addr: ParsedAddress;
  /** Every address, one per family, primary first; `addrs[i]` parses `ips[i]`. */
  ips: string[];
  addrs: ParsedAddress[];
  /** The cluster that enforces policy for this endpoint; undefined for external hosts. */
  cluster?: string;
  pod?: Pod;
  node?: NodeInfo;
  /** For a pod: the endpoint index of the node hosting it. */
  nodeIndex?: number;
}

export interface CompiledRule {
  policy: CompiledPolicy;
  direction: PolicyType;
  /** Position in the policy's ingress (egress) list. */
  index: number;
  /** `ns/name#index`, as reported in verdicts. */
  id: string;
  peers: NetworkPolicyPeer[] | undefined;
  ports: NetworkPolicyPort[] | undefined;
  /** `from`/`to` absent or empty: every endpoint is a peer. */
  allPeers: boolean;
  hasNamedPort: boolean;
  /** Peer endpoints per enforcing cluster (and family), filled on first use (see rulePeerSet). */
  peerSets: Map<string, Bitset>;
}

export interface CompiledPolicy {
  index: number;
  /** `ns/name`. */
  key: string;
  policy: NetworkPolicy;
  types: PolicyType[];
  /** Pods (of every cluster) the policy selects; each is enforced by its own cluster. */
  selected: Bitset;
  /** Rules of the directions in `types` only: rules of an unlisted direction are ignored, as in Kubernetes. */
  ingress: CompiledRule[];
  egress: CompiledRule[];
}

export interface CompiledState {
  state: ClusterState;
  shape: Shape;
  /** Pods first (indices 0..podCount-1, in state order), then nodes, then external hosts. */
  endpoints: Endpoint[];
  podCount: number;
  /** Families any endpoint has, IPv4 first (a single-stack state has one). */
  families: IPFamily[];
  byRef: Map<EndpointRef, number>;
  policies: CompiledPolicy[];
  /** Per endpoint: indices of the policies that isolate it for ingress (egress). Empty = not isolated. */
  ingressBy: number[][];
  egressBy: number[][];
  /** Internal caches shared by all rules. */
  caches: {
    podSelector: Map<string, Bitset>;
    namespaceSelector: Map<string, Set<string>>;
    peer: Map<string, Bitset>;
    ipBlock: Map<string, Bitset>;
    /** No endpoint (shared; never written). */
    empty: Bitset;
    /** Destinations whose (resolved) port a rule's `ports` admit, by protocol|port|ports. */
    portMatch: Map<string, Bitset>;
    /** pods by `cluster/namespace` */
    podsIn: Map<string, number[]>;
    /** pods by label key, then value: candidates for a selector's positive requirements */
    podsByLabel: Map<string, Map<string, number[]>>;
    all: Bitset;
  };
}

const compiledCache = new WeakMap<ClusterState, CompiledState>();

/** Array identities and lengths at compile time: catches a caller that reassigns or pushes into a state. */
type Shape = [unknown[], number][];
const shapeOf = (s: ClusterState): Shape =>
  [s.namespaces, s.pods, s.nodes, s.externals, s.policies].map((a) => [a, a.length]);
const sameShape = (a: Shape, s: ClusterState) =>
  shapeOf(s).every(([arr, n], i) => a[i]![0] === arr && a[i]![1] === n);

/**
 * Compiles a state once; later calls with the same state object return the cached form. States are treated as
 * immutable, as src/scenario/state.ts produces them: replacing or growing one of its arrays forces a recompile,
 * but editing an element in place (a pod's labels) is not noticed — build a new state instead.
 */
export function compileState(state: ClusterState): CompiledState {
  const hit = compiledCache.get(state);
  if (hit && sameShape(hit.shape, state)) return hit;
  const endpoints: Endpoint[] = [];
  const byRef = new Map<EndpointRef, number>();
  const add = (e: Omit<Endpoint, 'index' | 'addr' | 'ips' | 'addrs'> & { ips?: string[] }): Endpoint => {
    const ips = e.ips && e.ips.length > 0 ? e.ips : [e.ip];
    const addrs = ips.map(parseAddress);
    const ep: Endpoint = { ...e, ip: ips[0]!, ips, index: endpoints.length, addr: addrs[0]!, addrs };
    endpoints.push(ep);
    byRef.set(ep.ref, ep.index);
    return ep;
  };
  for (const p of state.pods)
    add({ ref: `${p.namespace}/${p.name}`, kind: 'pod', ip: p.ip, ips: p.ips, cluster: p.cluster, pod: p });
  const podCount = endpoints.length;
  for (const n of state.nodes)
    add({ ref: `node:${n.name}`, kind: 'node', ip: n.ip, ips: n.ips, cluster: n.cluster, node: n });
  for (const x of state.externals) add({ ref: `ext:${x.name}`, kind: 'external', ip: x.ip, ips: x.ips });
  for (let i = 0; i < podCount; i++) {
    const ep = endpoints[i]!;
    ep.nodeIndex = byRef.get(`node:${ep.pod!.node}`);
  }

  const podsIn = new Map<string, number[]>();
  for (let i = 0; i < podCount; i++) {
    const p = endpoints[i]!.pod!;
    const k = `${p.cluster}/${p.namespace}`;
    let list = podsIn.get(k);
    if (!list) podsIn.set(k, (list = []));
    list.push(i);
  }
  const podsByLabel = new Map<string, Map<string, number[]>>();
  for (let i = 0; i < podCount; i++) {
    const labels = endpoints[i]!.pod!.labels;
    for (const k in labels) {
      if (!Object.hasOwn(labels, k)) continue;
      let byValue = podsByLabel.get(k);
      if (!byValue) podsByLabel.set(k, (byValue = new Map()));
      let list = byValue.get(labels[k]!);
      if (!list) byValue.set(labels[k]!, (list = []));
      list.push(i);
    }
  }
  const all = newBitset(endpoints.length);
  for (let i = 0; i < endpoints.length; i++) bitSet(all, i);

  const famSet = new Set(endpoints.flatMap((e) => e.ips.map(familyOf)));
  const cs: CompiledState = {
    state,
    shape: shapeOf(state),
    endpoints,
    podCount,
    families: (['IPv4', 'IPv6'] as const).filter((f) => famSet.has(f)),
    byRef,
    policies: [],
    ingressBy: endpoints.map(() => []),
    egressBy: endpoints.map(() => []),
    caches: {
      podSelector: new Map(),
      namespaceSelector: new Map(),
      peer: new Map(),
      ipBlock: new Map(),
      empty: newBitset(endpoints.length),
      portMatch: new Map(),
      podsIn,
      podsByLabel,
      all,
    },
  };

  const clusters = [...new Set(state.pods.map((p) => p.cluster))];
  state.policies.forEach((policy, index) => {
    const types = normalizePolicyTypes(policy);
    const ns = policy.metadata.namespace;
    const selected = newBitset(endpoints.length);
    const podSel = podSelectorBits(cs, policy.spec.podSelector);
    for (const c of clusters)
      for (const i of podsIn.get(`${c}/${ns}`) ?? []) if (bitHas(podSel, i)) bitSet(selected, i);
    const cp: CompiledPolicy = {
      index,
      key: `${ns}/${policy.metadata.name}`,
      policy,
      types,
      selected,
      ingress: [],
      egress: [],
    };
    const mk = (
      direction: PolicyType,
      i: number,
      peers: NetworkPolicyPeer[] | undefined,
      ports: NetworkPolicyPort[] | undefined,
    ): CompiledRule => ({
      policy: cp,
      direction,
      index: i,
      id: `${cp.key}#${i}`,
      peers,
      ports,
      allPeers: !peers || peers.length === 0,
      hasNamedPort: (ports ?? []).some((p) => typeof p.port === 'string'),
      peerSets: new Map(),
    });
    if (types.includes('Ingress'))
      cp.ingress = (policy.spec.ingress ?? []).map((r, i) => mk('Ingress', i, r.from, r.ports));
    if (types.includes('Egress'))
      cp.egress = (policy.spec.egress ?? []).map((r, i) => mk('Egress', i, r.to, r.ports));
    cs.policies.push(cp);
    for (const i of bitIndices(selected)) {
      if (types.includes('Ingress')) cs.ingressBy[i]!.push(index);
      if (types.includes('Egress')) cs.egressBy[i]!.push(index);
    }
  });
  compiledCache.set(state, cs);
  return cs;
}

function podSelectorBits(cs: CompiledState, sel: LabelSelector): Bitset {
  const key = keyOf(sel);
  let b = cs.caches.podSelector.get(key);
  if (!b) {
    b = newBitset(cs.endpoints.length);
    const candidates = selectorCandidates(cs, sel);
    if (candidates) {
      for (const i of candidates) if (matchesSelector(cs.endpoints[i]!.pod!.labels, sel)) bitSet(b, i);
    } else
      for (let i = 0; i < cs.podCount; i++)
        if (matchesSelector(cs.endpoints[i]!.pod!.labels, sel)) bitSet(b, i);
    cs.caches.podSelector.set(key, b);
  }
  return b;
}

/**
 * The smallest pod list a selector's positive requirements (matchLabels, In, Exists) confine it to, from the label
 * index; undefined when it has none (empty selector, NotIn/DoesNotExist only) and every pod must be checked.
 */
function selectorCandidates(cs: CompiledState, sel: LabelSelector): Iterable<number> | undefined {
  const index = cs.caches.podsByLabel;
  let best: number[][] | undefined;
  const size = (lists: number[][]) => lists.reduce((n, l) => n + l.length, 0);
  const offer = (lists: number[][]) => {
    if (!best || size(lists) < size(best)) best = lists;
  };
  for (const k in sel.matchLabels ?? {}) offer([index.get(k)?.get(sel.matchLabels![k]!) ?? []]);
  for (const e of sel.matchExpressions ?? []) {
    const byValue = index.get(e.key);
    if (e.operator === 'In') offer([...new Set(e.values ?? [])].map((v) => byValue?.get(v) ?? []));
    else if (e.operator === 'Exists') offer(byValue ? [...byValue.values()] : []);
  }
  return best?.flat();
}

/** selectorKey, memoised per selector object (policies are immutable data). */
const keyCache = new WeakMap<LabelSelector, string>();
function keyOf(sel: LabelSelector | undefined): string {
  if (!sel) return '';
  let k = keyCache.get(sel);
  if (k === undefined) keyCache.set(sel, (k = selectorKey(sel)));
  return k;
}

function namespacesMatching(cs: CompiledState, sel: LabelSelector): Set<string> {
  const key = keyOf(sel);
  let s = cs.caches.namespaceSelector.get(key);
  if (!s) {
    s = new Set(cs.state.namespaces.filter((n) => matchesSelector(n.labels, sel)).map((n) => n.name));
    cs.caches.namespaceSelector.set(key, s);
  }
  return s;
}

/**
 * Endpoints one peer names, as enforced by `cluster`: selector peers match only that cluster's pods
 * (podSelector alone: the policy's namespace; namespaceSelector: pods of matching namespaces; both: AND);
 * an ipBlock matches every endpoint (pods of any cluster, nodes, external hosts) whose address is in `cidr`
 * and outside every `except` range; a CIDR of the other address family matches nothing.
 *
 * `family` is the connection's family: an ipBlock of the other family then matches nothing, and one of this
 * family matches an endpoint by its address of this family (a dual-stack pod is matched per connection).
 * Without `family` an ipBlock matches an endpoint if any of its addresses lies in it: exact for single-stack
 * states, the union over families for dual-stack ones. Selector peers are family-blind.
 */
export function peerBits(
  cs: CompiledState,
  policyNamespace: string,
  peer: NetworkPolicyPeer,
  cluster: string,
  family?: IPFamily,
): Bitset {
  if (peer.ipBlock) {
    const block = peer.ipBlock;
    const key = `${block.cidr}!${(block.except ?? []).join(',')}`;
    let b = cs.caches.ipBlock.get(key);
    if (!b) {
      const compiled = compileIPBlock(block);
      b = newBitset(cs.endpoints.length);
      // An endpoint has one address per family and the block is of one family: at most one address can match.
      for (const e of cs.endpoints) if (e.addrs.some((a) => ipBlockContains(compiled, a))) bitSet(b, e.index);
      cs.caches.ipBlock.set(key, b);
    }
    if (family !== undefined && familyOf(block.cidr) !== family) return cs.caches.empty;
    return b;
  }
  if (!peer.podSelector && !peer.namespaceSelector) return newBitset(cs.endpoints.length);
  const key = `${cluster}|${peer.namespaceSelector ? `ns${keyOf(peer.namespaceSelector)}` : `in:${policyNamespace}`}|${keyOf(peer.podSelector)}`;
  let b = cs.caches.peer.get(key);
  if (!b) {
    b = newBitset(cs.endpoints.length);
    const namespaces = peer.namespaceSelector
      ? namespacesMatching(cs, peer.namespaceSelector)
      : [policyNamespace];
    const podSel = peer.podSelector ? podSelectorBits(cs, peer.podSelector) : undefined;
    for (const ns of namespaces)
      for (const i of cs.caches.podsIn.get(`${cluster}/${ns}`) ?? [])
        if (!podSel || bitHas(podSel, i)) bitSet(b, i);
    cs.caches.peer.set(key, b);
  }
  return b;
}

/**
 * Every endpoint a rule admits as peer when enforced by `cluster`, for connections of `family` (absent: see
 * peerBits). Cached on the rule.
 */
export function rulePeerSet(
  cs: CompiledState,
  rule: CompiledRule,
  cluster: string,
  family?: IPFamily,
): Bitset {
  if (rule.allPeers) return cs.caches.all;
  const key = family === undefined ? cluster : `${cluster}|${family}`;
  let b = rule.peerSets.get(key);
  if (!b) {
    const peers = rule.peers!;
    const ns = rule.policy.policy.metadata.namespace;
    if (peers.length === 1) b = peerBits(cs, ns, peers[0]!, cluster, family);
    else {
      b = newBitset(cs.endpoints.length);
      for (const p of peers) bitOrInto(b, peerBits(cs, ns, p, cluster, family));
    }
    rule.peerSets.set(key, b);
  }
  return b;
}

export function endpointIndex(cs: CompiledState, ref: EndpointRef): number {
  const i = cs.byRef.get(ref);
  if (i === undefined) throw new Error(`unknown endpoint '${ref}'`);
  return i;
}
