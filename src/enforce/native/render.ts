// NodePlan → nftables text, in the skeleton kube-router (nftables mode) and Calico share: conntrack first,
// node-local exemption, per-pod dispatch through verdict maps, a chain per isolated pod and direction that jumps
// to one chain per selecting policy, peers and ports as named sets, a mark on match, drop when nothing matched.
import type { PolicyType, Protocol } from '../../policy/model.ts';
import { normalize, renderIntervals, type Interval } from './intervals.ts';
import { shortHash } from './names.ts';
import type { AddrMatch, DestPort, NodePlan, PodPlan, PolicyChainPlan, PortElem, RuleMatch } from './plan.ts';

const ND_ACCEPT =
  'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept';

/** The bit a policy chain sets when one of its rules admits the packet. */
export const MATCH_MARK = 0x10000;
const MARK_HEX = `0x${MATCH_MARK.toString(16).padStart(8, '0')}`;
const CLEAR_HEX = `0x${(~MATCH_MARK >>> 0).toString(16).padStart(8, '0')}`;
const ON_MATCH = `meta mark set meta mark | ${MARK_HEX} return`;

interface SetDef {
  type: string;
  interval: boolean;
  /** Rendered element list, joined once. */
  elements: string;
}

const setNames = new Map<string, string>();

function setName(kind: string, type: string, joined: string): string {
  const key = `${kind}|${type}|${joined}`;
  let name = setNames.get(key);
  if (!name) {
    // Many rules share peers and ports: hash each distinct content once per process.
    if (setNames.size > 200_000) setNames.clear();
    setNames.set(key, (name = `${kind}_${shortHash(`${type}|${joined}`, 12)}`));
  }
  return name;
}

/** A policy chain renders the same on every node of its cluster: render its whole block once. */
interface ChainText {
  block: string;
  ruleCount: number;
  sets: Map<string, SetDef>;
}
const chainTexts = new WeakMap<PolicyChainPlan, ChainText>();

function policyChainText(c: PolicyChainPlan): ChainText {
  let t = chainTexts.get(c);
  if (!t) {
    const sets = new Map<string, SetDef>();
    const lines = c.rules.flatMap((r) => ruleLines(r, c.direction, sets));
    t = {
      block: chainBlock(c.name, `${c.direction.toLowerCase()} rules of ${c.policy}`, lines),
      ruleCount: lines.length,
      sets,
    };
    chainTexts.set(c, t);
  }
  return t;
}

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const PROTO_ORDER: Protocol[] = ['TCP', 'UDP', 'SCTP'];

function ipKey(ip: string): string {
  // Numeric order for IPv4 (zero-padded octets); IPv6 sorts as text, which is still deterministic.
  return ip.includes(':')
    ? `~${ip}`
    : ip
        .split('.')
        .map((o) => o.padStart(3, '0'))
        .join('.');
}

/** Merges overlapping port ranges per protocol (nft rejects overlapping interval elements). */
export function portElements(ports: PortElem[]): string[] {
  const out: string[] = [];
  for (const proto of PROTO_ORDER) {
    const ranges: Interval[] = ports
      .filter((p) => p.protocol === proto)
      .map((p) => [BigInt(p.from), BigInt(p.to)] as const);
    for (const [lo, hi] of normalize(ranges))
      out.push(lo === hi ? `${PROTO[proto]} . ${lo}` : `${PROTO[proto]} . ${lo}-${hi}`);
  }
  return out;
}

function destElements(dests: DestPort[], v6: boolean): string[] {
  const seen = new Set<string>();
  for (const d of dests)
    if (d.ip.includes(':') === v6)
      seen.add(
        `${ipKey(d.ip)}|${PROTO_ORDER.indexOf(d.protocol)}|${String(d.port).padStart(5, '0')}|${d.ip} . ${PROTO[d.protocol]} . ${d.port}`,
      );
  return [...seen].sort().map((k) => k.slice(k.lastIndexOf('|') + 1));
}

/** A piece of a rule (`ip saddr @set `) with the set it references. */
interface Fragment {
  text: string;
  set?: [string, SetDef];
}

function fragment(
  text: (name: string) => string,
  kind: string,
  type: string,
  interval: boolean,
  elements: string[],
): Fragment {
  const joined = elements.join(', ');
  const name = setName(kind, type, joined);
  return { text: text(name), set: [name, { type, interval, elements: joined }] };
}

// Peers and ports are shared by many rules (plan.ts dedupes them by content): render each object once.
const addrFragments: Record<PolicyType, WeakMap<AddrMatch, Fragment[]>> = {
  Ingress: new WeakMap(),
  Egress: new WeakMap(),
};
const portFragments = new WeakMap<PortElem[], Fragment>();

function addrParts(a: AddrMatch, dir: PolicyType): Fragment[] {
  let f = addrFragments[dir].get(a);
  if (!f) {
    const peer = dir === 'Ingress' ? 'saddr' : 'daddr';
    f = [];
    if (a.pods4.length) f.push(fragment((n) => `ip ${peer} @${n} `, 'pods4', 'ipv4_addr', false, a.pods4));
    if (a.pods6.length) f.push(fragment((n) => `ip6 ${peer} @${n} `, 'pods6', 'ipv6_addr', false, a.pods6));
    if (a.cidr4.length)
      f.push(fragment((n) => `ip ${peer} @${n} `, 'cidr4', 'ipv4_addr', true, renderIntervals(a.cidr4, 4)));
    if (a.cidr6.length)
      f.push(fragment((n) => `ip6 ${peer} @${n} `, 'cidr6', 'ipv6_addr', true, renderIntervals(a.cidr6, 6)));
    addrFragments[dir].set(a, f);
  }
  return f;
}

function portPart(ports: PortElem[]): Fragment {
  let f = portFragments.get(ports);
  if (!f)
    portFragments.set(
      ports,
      (f = fragment(
        (n) => `meta l4proto . th dport @${n} `,
        'ports',
        'inet_proto . inet_service',
        true,
        portElements(ports),
      )),
    );
  return f;
}

const destFragments = new WeakMap<DestPort[], Fragment[]>();

function destParts(dests: DestPort[]): Fragment[] {
  let f = destFragments.get(dests);
  if (!f) {
    f = [];
    const d4 = destElements(dests, false);
    if (d4.length)
      f.push(
        fragment(
          (n) => `ip daddr . meta l4proto . th dport @${n} ${ON_MATCH}`,
          'dport4',
          'ipv4_addr . inet_proto . inet_service',
          false,
          d4,
        ),
      );
    const d6 = destElements(dests, true);
    if (d6.length)
      f.push(
        fragment(
          (n) => `ip6 daddr . meta l4proto . th dport @${n} ${ON_MATCH}`,
          'dport6',
          'ipv6_addr . inet_proto . inet_service',
          false,
          d6,
        ),
      );
    destFragments.set(dests, f);
  }
  return f;
}

const ANY: Fragment[] = [{ text: '' }];

function ruleLines(rule: RuleMatch, dir: PolicyType, sets: Map<string, SetDef>): string[] {
  const lines: string[] = [];
  const use = (f: Fragment) => {
    if (f.set) sets.set(f.set[0], f.set[1]);
    return f.text;
  };
  if (rule.ports === null || rule.ports.length > 0) {
    const portMatch = rule.ports === null ? '' : use(portPart(rule.ports));
    for (const am of rule.addrs === null ? ANY : addrParts(rule.addrs, dir))
      lines.push(`${use(am)}${portMatch}${ON_MATCH}`);
  }
  if (rule.dests.length) for (const f of destParts(rule.dests)) lines.push(use(f));
  return lines;
}

function commentLine(comment: string): string {
  // nft strings have no escapes: keep comments to characters that need none.
  return `\t\tcomment "${comment.replace(/[^A-Za-z0-9 ./:_,-]/g, '?')}"\n`;
}

function chainBlock(name: string, comment: string, lines: string[], hook?: string): string {
  let out = `\tchain ${name} {\n`;
  if (hook) out += `\t\ttype filter hook ${hook} priority filter; policy accept;\n`;
  out += commentLine(comment);
  for (const l of lines) out += `\t\t${l}\n`;
  return `${out}\t}`;
}

const jumpLines = new WeakMap<PolicyChainPlan, string>();

function podChainBlock(name: string, comment: string, pod: PodPlan): { block: string; ruleCount: number } {
  // No selecting policy has a rule for this direction (e.g. deny-all): nothing can set the mark.
  if (pod.chains.length === 0) return { block: chainBlock(name, comment, ['counter drop']), ruleCount: 1 };
  // A pod can be selected by thousands of policies: reuse one jump line per policy chain across pods and nodes.
  const jumps: string[] = [];
  for (const c of pod.chains) {
    let j = jumpLines.get(c);
    if (!j) jumpLines.set(c, (j = `\t\tjump ${c.name}\n`));
    jumps.push(j);
  }
  const verdict = `\t\tmeta mark & ${MARK_HEX} == 0 counter drop\n\t\tmeta mark set meta mark & ${CLEAR_HEX}\n`;
  return {
    block: `\tchain ${name} {\n${commentLine(comment)}${jumps.join('')}${verdict}\t}`,
    ruleCount: pod.chains.length + 2,
  };
}

function dispatchMap(
  name: string,
  pods: PodPlan[],
  chainOf: (p: PodPlan) => string,
  v6: boolean,
  out: string[],
): void {
  const elems = pods.flatMap((p) =>
    (p.ips ?? [p.ip]).filter((ip) => ip.includes(':') === v6).map((ip) => `${ip} : jump ${chainOf(p)}`),
  );
  out.push(`\tmap ${name} {`, `\t\ttype ${v6 ? 'ipv6_addr' : 'ipv4_addr'} : verdict`);
  if (elems.length) out.push(`\t\telements = {\n\t\t\t${elems.join(',\n\t\t\t')}\n\t\t}`);
  out.push('\t}');
}

export interface Rendered {
  text: string;
  ruleCount: number;
  setCount: number;
  chainCount: number;
}

export interface RenderNames {
  table: string;
  podChain: (dir: PolicyType, pod: PodPlan) => string;
  /**
   * Test knob (TB_NATIVE_PAD_RULES, src/measure/test-knobs.ts): this many never-matching linear rules at the
   * top of the forward hook, ahead of conntrack, so every forwarded packet walks them: a known per-packet
   * slowdown for proving the regression check. 0 or absent in every real run.
   */
  padRules?: number;
}

/** Linear rules no packet matches (TEST-NET-1 source to TEST-NET-2 destination). */
export function padRuleLines(n: number): string[] {
  return Array.from(
    { length: n },
    (_, i) => `ip saddr 192.0.2.${i % 256} ip daddr 198.51.100.${(i >> 8) % 256} drop`,
  );
}

/**
 * The whole ruleset for one node. It begins by creating and deleting the table, so `nft -f` replaces the old
 * table in one transaction (no window without rules, no error when the table did not exist yet).
 */
export function renderNode(plan: NodePlan, names: RenderNames): Rendered {
  const sets = new Map<string, SetDef>();
  const chainOut: string[] = [];
  let ruleCount = 0;
  let chainCount = 0;
  const policyChains = [...plan.chains.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const c of policyChains) {
    const t = policyChainText(c);
    for (const [name, def] of t.sets) sets.set(name, def);
    chainOut.push(t.block);
    ruleCount += t.ruleCount;
    chainCount++;
  }
  const byIp = (a: PodPlan, b: PodPlan) =>
    ipKey(a.ip) < ipKey(b.ip) ? -1 : ipKey(a.ip) > ipKey(b.ip) ? 1 : 0;
  const ingress = [...plan.ingress].sort(byIp);
  const egress = [...plan.egress].sort(byIp);
  for (const [dir, pods] of [
    ['Egress', egress],
    ['Ingress', ingress],
  ] as const) {
    for (const p of pods) {
      const pc = podChainBlock(names.podChain(dir, p), `${dir.toLowerCase()} of pod ${p.ref}`, p);
      chainOut.push(pc.block);
      ruleCount += pc.ruleCount;
      chainCount++;
    }
  }

  const out: string[] = [
    `# NetworkPolicy for node ${plan.node} (cluster ${plan.cluster}), generated; replaces the table atomically.`,
    `table inet ${names.table}`,
    `delete table inet ${names.table}`,
    `table inet ${names.table} {`,
  ];
  for (const [name, s] of [...sets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.push(`\tset ${name} {`, `\t\ttype ${s.type}`);
    if (s.interval) out.push('\t\tflags interval');
    out.push(`\t\telements = { ${s.elements} }`, '\t}');
  }
  for (const l of chainOut) out.push(l);
  const v6 = [...ingress, ...egress].some((p) => (p.ips ?? [p.ip]).some((ip) => ip.includes(':')));
  dispatchMap('ingress_dispatch', ingress, (p) => names.podChain('Ingress', p), false, out);
  dispatchMap('egress_dispatch', egress, (p) => names.podChain('Egress', p), false, out);
  if (v6) {
    dispatchMap('ingress_dispatch6', ingress, (p) => names.podChain('Ingress', p), true, out);
    dispatchMap('egress_dispatch6', egress, (p) => names.podChain('Egress', p), true, out);
  }
  const dispatch = (hookLines: string[], withIngress: boolean) => {
    hookLines.push('ip saddr vmap @egress_dispatch');
    if (v6) hookLines.push('ip6 saddr vmap @egress_dispatch6');
    if (withIngress) {
      hookLines.push('ip daddr vmap @ingress_dispatch');
      if (v6) hookLines.push('ip6 daddr vmap @ingress_dispatch6');
    }
    return hookLines;
  };
  // IPv6 neighbour discovery (and router discovery) is never policy: a pod's NS for its gateway carries the
  // pod's own address as source and would otherwise meet its egress default deny, breaking every flow. The
  // kernel tracks ND as `untracked`; it goes first all the same, so no ct state rule can ever catch it.
  const head = [...(v6 ? [ND_ACCEPT] : []), 'ct state established,related accept', 'ct state invalid drop'];
  // Pods sit behind the node, so pod traffic is forwarded here: the source pod's egress, then (same node) the
  // destination pod's ingress, each on the node hosting that pod. A forwarded packet whose source is one of this
  // node's own addresses is node traffic (kubelet probes): exempt, like node-originated traffic, which leaves
  // through the output hook that this table leaves alone.
  const forward = dispatch(
    [...padRuleLines(names.padRules ?? 0), ...head, 'fib saddr type local accept'],
    true,
  );
  out.push(chainBlock('forward', 'pod traffic routed by this node', forward, 'forward'));
  ruleCount += forward.length;
  // A pod talking to its own node is delivered locally (input), not forwarded; its egress policy still applies.
  const input = dispatch([...head], false);
  out.push(chainBlock('input', 'pod traffic to this node itself', input, 'input'));
  ruleCount += input.length;
  out.push('}', '');
  return { text: out.join('\n'), ruleCount, setCount: sets.size, chainCount: chainCount + 2 };
}
