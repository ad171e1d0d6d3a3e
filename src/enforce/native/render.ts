// NodePlan → nftables text, in the skeleton kube-router (nftables mode) and Calico share: conntrack first,
// node-local exemption, per-pod dispatch through verdict maps, a chain per isolated pod and direction that jumps
// to one chain per selecting policy, peers and ports as named sets, a mark on match, drop when nothing matched.
import type { PolicyType, Protocol } from '../../policy/model.ts';
import { normalize, renderIntervals, type Interval } from './intervals.ts';
import { shortHash } from './names.ts';
import type { DestPort, NodePlan, PodPlan, PolicyChainPlan, PortElem, RuleMatch } from './plan.ts';

/** The bit a policy chain sets when one of its rules admits the packet. */
export const MATCH_MARK = 0x10000;
const MARK_HEX = `0x${MATCH_MARK.toString(16).padStart(8, '0')}`;
const CLEAR_HEX = `0x${(~MATCH_MARK >>> 0).toString(16).padStart(8, '0')}`;
const ON_MATCH = `meta mark set meta mark | ${MARK_HEX} return`;

interface SetDef {
  type: string;
  interval: boolean;
  elements: string[];
}

/** Sets are named by a hash of their content, as Calico names ipsets by selector: equal peers share a set. */
class SetRegistry {
  readonly sets = new Map<string, SetDef>();
  add(kind: string, type: string, interval: boolean, elements: string[]): string {
    const name = `${kind}_${shortHash(`${type}|${elements.join(',')}`, 12)}`;
    if (!this.sets.has(name)) this.sets.set(name, { type, interval, elements });
    return name;
  }
}

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const PROTO_ORDER: Protocol[] = ['TCP', 'UDP', 'SCTP'];

function ipKey(ip: string): string {
  // Numeric order for IPv4 (zero-padded octets); IPv6 sorts as text, which is still deterministic.
  return ip.includes(':') ? `~${ip}` : ip.split('.').map((o) => o.padStart(3, '0')).join('.');
}

export function sortIps(ips: Iterable<string>): string[] {
  return [...new Set(ips)].sort((a, b) => (ipKey(a) < ipKey(b) ? -1 : ipKey(a) > ipKey(b) ? 1 : 0));
}

/** Merges overlapping port ranges per protocol (nft rejects overlapping interval elements). */
export function portElements(ports: PortElem[]): string[] {
  const out: string[] = [];
  for (const proto of PROTO_ORDER) {
    const ranges: Interval[] = ports.filter((p) => p.protocol === proto).map((p) => [BigInt(p.from), BigInt(p.to)] as const);
    for (const [lo, hi] of normalize(ranges)) out.push(lo === hi ? `${PROTO[proto]} . ${lo}` : `${PROTO[proto]} . ${lo}-${hi}`);
  }
  return out;
}

function destElements(dests: DestPort[], v6: boolean): string[] {
  const seen = new Set<string>();
  for (const d of dests) if (d.ip.includes(':') === v6) seen.add(`${ipKey(d.ip)}|${PROTO_ORDER.indexOf(d.protocol)}|${String(d.port).padStart(5, '0')}|${d.ip} . ${PROTO[d.protocol]} . ${d.port}`);
  return [...seen].sort().map((k) => k.slice(k.lastIndexOf('|') + 1));
}

function ruleLines(rule: RuleMatch, dir: PolicyType, sets: SetRegistry): string[] {
  const peer = dir === 'Ingress' ? 'saddr' : 'daddr';
  const lines: string[] = [];
  if (rule.ports === null || rule.ports.length > 0) {
    const portMatch = rule.ports === null ? '' : `meta l4proto . th dport @${sets.add('ports', 'inet_proto . inet_service', true, portElements(rule.ports))} `;
    const addrMatches: string[] = [];
    if (rule.addrs === null) addrMatches.push('');
    else {
      const a = rule.addrs;
      if (a.pods4.length) addrMatches.push(`ip ${peer} @${sets.add('pods4', 'ipv4_addr', false, sortIps(a.pods4))} `);
      if (a.pods6.length) addrMatches.push(`ip6 ${peer} @${sets.add('pods6', 'ipv6_addr', false, sortIps(a.pods6))} `);
      if (a.cidr4.length) addrMatches.push(`ip ${peer} @${sets.add('cidr4', 'ipv4_addr', true, renderIntervals(a.cidr4, 4))} `);
      if (a.cidr6.length) addrMatches.push(`ip6 ${peer} @${sets.add('cidr6', 'ipv6_addr', true, renderIntervals(a.cidr6, 6))} `);
    }
    for (const am of addrMatches) lines.push(`${am}${portMatch}${ON_MATCH}`);
  }
  const d4 = destElements(rule.dests, false);
  if (d4.length) lines.push(`ip daddr . meta l4proto . th dport @${sets.add('dport4', 'ipv4_addr . inet_proto . inet_service', false, d4)} ${ON_MATCH}`);
  const d6 = destElements(rule.dests, true);
  if (d6.length) lines.push(`ip6 daddr . meta l4proto . th dport @${sets.add('dport6', 'ipv6_addr . inet_proto . inet_service', false, d6)} ${ON_MATCH}`);
  return lines;
}

function chainBlock(name: string, comment: string, lines: string[], out: string[], hook?: string): number {
  out.push(`\tchain ${name} {`);
  if (hook) out.push(`\t\ttype filter hook ${hook} priority filter; policy accept;`);
  // nft strings have no escapes: keep comments to characters that need none.
  out.push(`\t\tcomment "${comment.replace(/[^A-Za-z0-9 ./:_,-]/g, '?')}"`);
  for (const l of lines) out.push(`\t\t${l}`);
  out.push('\t}');
  return lines.length;
}

function podChainLines(pod: PodPlan): string[] {
  // No selecting policy has a rule for this direction (e.g. deny-all): nothing can set the mark.
  if (pod.chains.length === 0) return ['counter drop'];
  return [...pod.chains.map((c) => `jump ${c}`), `meta mark & ${MARK_HEX} == 0 counter drop`, `meta mark set meta mark & ${CLEAR_HEX}`];
}

function dispatchMap(name: string, pods: PodPlan[], chainOf: (p: PodPlan) => string, v6: boolean, out: string[]): void {
  const elems = pods.filter((p) => p.ip.includes(':') === v6).map((p) => `${p.ip} : jump ${chainOf(p)}`);
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
}

/**
 * The whole ruleset for one node. It begins by creating and deleting the table, so `nft -f` replaces the old
 * table in one transaction (no window without rules, no error when the table did not exist yet).
 */
export function renderNode(plan: NodePlan, names: RenderNames): Rendered {
  const sets = new SetRegistry();
  const chainOut: string[] = [];
  let ruleCount = 0;
  let chainCount = 0;
  const policyChains = [...plan.chains.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of policyChains) {
    const lines = c.rules.flatMap((r) => ruleLines(r, c.direction, sets));
    ruleCount += chainBlock(c.name, `${c.direction.toLowerCase()} rules of ${c.policy}`, lines, chainOut);
    chainCount++;
  }
  const byIp = (a: PodPlan, b: PodPlan) => (ipKey(a.ip) < ipKey(b.ip) ? -1 : ipKey(a.ip) > ipKey(b.ip) ? 1 : 0);
  const ingress = [...plan.ingress].sort(byIp);
  const egress = [...plan.egress].sort(byIp);
  for (const [dir, pods] of [['Egress', egress], ['Ingress', ingress]] as const) {
    for (const p of pods) {
      ruleCount += chainBlock(names.podChain(dir, p), `${dir.toLowerCase()} of pod ${p.ref}`, podChainLines(p), chainOut);
      chainCount++;
    }
  }

  const out: string[] = [
    `# NetworkPolicy for node ${plan.node} (cluster ${plan.cluster}), generated; replaces the table atomically.`,
    `table inet ${names.table}`,
    `delete table inet ${names.table}`,
    `table inet ${names.table} {`,
  ];
  for (const [name, s] of [...sets.sets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.push(`\tset ${name} {`, `\t\ttype ${s.type}`);
    if (s.interval) out.push('\t\tflags interval');
    out.push(`\t\telements = { ${s.elements.join(', ')} }`, '\t}');
  }
  out.push(...chainOut);
  const v6 = [...ingress, ...egress].some((p) => p.ip.includes(':'));
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
  const head = ['ct state established,related accept', 'ct state invalid drop'];
  // Pods sit behind the node, so pod traffic is forwarded here: the source pod's egress, then (same node) the
  // destination pod's ingress, each on the node hosting that pod. A forwarded packet whose source is one of this
  // node's own addresses is node traffic (kubelet probes): exempt, like node-originated traffic, which leaves
  // through the output hook that this table leaves alone.
  const forward = dispatch([...head, 'fib saddr type local accept'], true);
  ruleCount += chainBlock('forward', 'pod traffic routed by this node', forward, out, 'forward');
  // A pod talking to its own node is delivered locally (input), not forwarded; its egress policy still applies.
  const input = dispatch([...head], false);
  ruleCount += chainBlock('input', 'pod traffic to this node itself', input, out, 'input');
  out.push('}', '');
  return { text: out.join('\n'), ruleCount, setCount: sets.sets.size, chainCount: chainCount + 2 };
}
