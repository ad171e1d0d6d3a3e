// NetworkPolicy → overlay configuration (pure, no I/O). Selectors, namespaces, ipBlocks and named ports are
// resolved by the semantics engine (src/policy/engine.ts) into endpoint sets; this module only maps those
// endpoints to overlay addresses and lays the result out as per-SaP and per-agent configs (../CONTRACT.md).
//
// Placement: one SaP per node (in the node host, listening on the node's underlay address) serves the node's
// pods; one gateway SaP per cluster carries that cluster's cross-cluster hops and serves the unmanaged
// endpoints. Gateways run in the inter-cluster router host, each bound to its cluster's gateway address: the
// router is the clusters' border, which every cross-cluster and external packet crosses anyway, so a gateway
// there adds no underlay hop; node hosts stay uniform (one SaP each), so per-node cost is comparable across
// paths; and every SaP has an underlay address of its own (peer SaPs are told apart by address).
import type { ClusterState, EndpointRef, IPFamily, Pod } from '../../src/policy/model.ts';
import type { Topology } from '../../src/scenario/types.ts';
import { ADDRESS_PLAN } from '../../src/scenario/resolve.ts';
import {
  compileState,
  rulePeerSet,
  resolvePort,
  type CompiledRule,
  type CompiledState,
  type Endpoint,
} from '../../src/policy/engine.ts';
import { bitIndices } from '../../src/policy/bitset.ts';
import type { AgentConfigInput } from '../agent/config.ts';
import { GUE_PORT, type Addr, type KeyEntry, type SapConfigInput } from '../sap/config.ts';
import { assignOverlayIps, OVERLAY_CIDR } from './addressing.ts';
import { canonicalIp, OVERLAY_CIDR6, overlayIp6 } from './addressing6.ts';

/** Host of the gateway SaPs (the platform's inter-cluster router). */
export const GATEWAY_HOST = 'router';

export interface KeyState {
  overlayId: number;
  /** Keys accepted everywhere (during a rotation: two epochs). */
  keys: KeyEntry[];
  /** Epoch senders (agents and SaPs) write into packets. */
  sendEpoch: number;
}

export interface SapPlan {
  id: string;
  role: 'node' | 'gateway';
  cluster: string;
  /** Host the SaP process runs in (`node:NAME`, or `router` for gateways). */
  host: EndpointRef;
  listen: Addr;
  /** Second socket on the other underlay family (gateways of dual-stack clusters, for IPv6-only externals). */
  listen6?: Addr;
  config: SapConfigInput;
}

export interface AgentPlan {
  /** Endpoint (and host) the agent serves: `ns/pod` or `ext:NAME`. */
  ref: EndpointRef;
  overlayIp: string;
  /** Set when the endpoint has an IPv6 address: its overlay IPv6 address (addressing6.ts). */
  overlayIp6?: string;
  config: AgentConfigInput;
}

/** Something the overlay cannot carry as NetworkPolicy says; the harness names affected cells with `reason`. */
export interface InexpressibleNote {
  subject: string;
  reason: string;
}

export interface OverlayPlan {
  version: number;
  overlayId: number;
  /** Endpoint → overlay address, for every endpoint that runs an agent. */
  overlayIps: Map<EndpointRef, string>;
  /** Endpoint → overlay IPv6 address, for agent-carrying endpoints with an IPv6 address. */
  overlayIps6?: Map<EndpointRef, string>;
  saps: SapPlan[];
  agents: AgentPlan[];
  notes: InexpressibleNote[];
}

type AllowEntry = NonNullable<SapConfigInput['endpoints'][number]['ingress']>[number];
type PortRange = NonNullable<AllowEntry['ports']>[number];

export const NODE_REASON =
  'nodes run no agent: host-originated traffic (kubelet exemption, hostNetwork) and traffic to node addresses bypass the overlay';

export const nodeSapId = (node: string) => `node:${node}`;
export const gatewaySapId = (cluster: string) => `gw:${cluster}`;

/** Endpoints that carry an agent: pods and unmanaged (external) hosts. */
export function hasAgent(e: Pick<Endpoint, 'kind'>): boolean {
  return e.kind === 'pod' || e.kind === 'external';
}

/** Stable overlay addresses of every agent-carrying endpoint of a state. */
export function overlayAddresses(state: ClusterState): Map<EndpointRef, string> {
  const cs = compileState(state);
  const eps = cs.endpoints.filter(hasAgent);
  const byIp = assignOverlayIps(eps.map((e) => e.ip));
  return new Map(eps.map((e) => [e.ref, byIp.get(e.ip)!]));
}

/**
 * One rule's port list as concrete ranges at destination `dst` (named ports looked up there).
 * undefined = every protocol and port; [] = the rule can match nothing at this destination.
 */
function rulePortRanges(rule: CompiledRule, dst: Pod | undefined): PortRange[] | undefined {
  if (!rule.ports || rule.ports.length === 0) return undefined;
  const out: PortRange[] = [];
  for (const rp of rule.ports) {
    if (rp.port === undefined) {
      out.push({ protocol: rp.protocol ?? 'TCP', portFrom: 0, portTo: 65535 });
      continue;
    }
    const r = resolvePort(rp, dst);
    if (r) out.push({ protocol: r.protocol, portFrom: r.from, portTo: r.to });
  }
  return out;
}

function peersOf(cs: CompiledState, idx: number[], ips: Map<EndpointRef, string>): { cidr: string }[] {
  const out: { cidr: string }[] = [];
  for (const i of idx) {
    const ip = ips.get(cs.endpoints[i]!.ref);
    if (ip) out.push({ cidr: `${ip}/32` });
  }
  return out;
}

/**
 * One peers array per distinct endpoint set within a compile, so that entries with the same peers are the
 * same object and merged() groups them without serialising every list.
 */
type PeerInterner = (key: string, idx: () => number[]) => { cidr: string }[];
function peerInterner(cs: CompiledState, ips: Map<EndpointRef, string>): PeerInterner {
  const seen = new Map<string, { cidr: string }[]>();
  return (key, idx) => {
    let p = seen.get(key);
    if (!p) seen.set(key, (p = peersOf(cs, idx(), ips)));
    return p;
  };
}
const bitsKey = (b: Uint32Array): string => b.join(',');

function ingressEntries(
  cs: CompiledState,
  e: Endpoint,
  peersFor: PeerInterner,
  family?: IPFamily,
): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const pi of cs.ingressBy[e.index]!) {
    for (const rule of cs.policies[pi]!.ingress) {
      const ports = rulePortRanges(rule, e.pod);
      if (ports && ports.length === 0) continue;
      if (rule.allPeers) {
        out.push(ports ? { ports } : {});
        continue;
      }
      const set = rulePeerSet(cs, rule, e.cluster!, family);
      const peers = peersFor(bitsKey(set), () => bitIndices(set));
      if (peers.length > 0) out.push(ports ? { peers, ports } : { peers });
    }
  }
  return merged(out);
}

function egressEntries(
  cs: CompiledState,
  e: Endpoint,
  ips: Map<EndpointRef, string>,
  peersFor: PeerInterner,
  family?: IPFamily,
): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const pi of cs.egressBy[e.index]!) {
    for (const rule of cs.policies[pi]!.egress) {
      if (!rule.hasNamedPort) {
        const ports = rulePortRanges(rule, undefined);
        if (ports && ports.length === 0) continue;
        if (rule.allPeers) {
          out.push(ports ? { ports } : {});
          continue;
        }
        const set = rulePeerSet(cs, rule, e.cluster!, family);
        const peers = peersFor(bitsKey(set), () => bitIndices(set));
        if (peers.length > 0) out.push(ports ? { peers, ports } : { peers });
        continue;
      }
      // A named port means a different number at each destination: group destinations by what it resolves to.
      const groups = new Map<string, { ports: PortRange[]; idx: number[] }>();
      for (const d of bitIndices(rulePeerSet(cs, rule, e.cluster!, family))) {
        if (!ips.has(cs.endpoints[d]!.ref)) continue;
        const ports = rulePortRanges(rule, cs.endpoints[d]!.pod)!;
        if (ports.length === 0) continue;
        const key = JSON.stringify(ports);
        const g = groups.get(key) ?? { ports, idx: [] };
        g.idx.push(d);
        groups.set(key, g);
      }
      for (const g of groups.values())
        out.push({ peers: peersFor(`i${g.idx.join(',')}`, () => g.idx), ports: g.ports });
    }
  }
  return merged(out);
}

/**
 * Allow entries are a union: entries with the same peers become one entry whose ports are the union of theirs
 * (all ports when one of them names none), and equal ports are kept once. Many policies often share their
 * peers (one per port or per team, selecting the same clients): merging them makes every SaP's config, its
 * parsing and its table rendering proportional to the distinct peer sets, not to the policy count.
 */
function merged(entries: AllowEntry[]): AllowEntry[] {
  const groups = new Map<unknown, { peers?: AllowEntry['peers']; ports: Map<string, PortRange> | null }>();
  for (const e of entries) {
    const k = e.peers ?? null; // interned: equal peer sets are the same array (peerInterner)
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ...(e.peers ? { peers: e.peers } : {}), ports: new Map() }));
    if (!e.ports) g.ports = null;
    else if (g.ports) for (const r of e.ports) g.ports.set(`${r.protocol}:${r.portFrom}-${r.portTo}`, r);
  }
  return [...groups.values()].map((g) => ({
    ...(g.peers ? { peers: g.peers } : {}),
    ...(g.ports ? { ports: [...g.ports.values()] } : {}),
  }));
}

/** Policy-level facts the overlay cannot carry (reported alongside the per-cell reasons). */
function staticNotes(cs: CompiledState): InexpressibleNote[] {
  const notes: InexpressibleNote[] = [];
  for (const cp of cs.policies)
    for (const rule of [...cp.ingress, ...cp.egress]) {
      const clusters = new Set(bitIndices(cp.selected).map((i) => cs.endpoints[i]!.cluster!));
      const nodes = new Set<string>();
      if (!rule.allPeers)
        for (const c of clusters)
          for (const i of bitIndices(rulePeerSet(cs, rule, c)))
            if (cs.endpoints[i]!.kind === 'node') nodes.add(cs.endpoints[i]!.ref);
      if (nodes.size > 0)
        notes.push({
          subject: `${rule.id} (${rule.direction})`,
          reason: `peers ${[...nodes].sort().join(', ')}: ${NODE_REASON}`,
        });
      if ((rule.ports ?? []).some((p) => p.protocol === 'SCTP'))
        notes.push({
          subject: `${rule.id} (${rule.direction})`,
          reason: 'SCTP: compiled into the tables, but this kernel has no SCTP sockets to probe it',
        });
    }
  return notes;
}

export interface CompileOptions {
  version: number;
  keys: KeyState;
  /** For the gateways' addresses (each cluster's gateway on its underlay); default: the scenario address plan. */
  topology?: Pick<Topology, 'clusters'>;
}

export function compileOverlay(state: ClusterState, opts: CompileOptions): OverlayPlan {
  const cs = compileState(state);
  const ips = overlayAddresses(state);
  const { overlayId, keys, sendEpoch } = opts.keys;
  const clusters = [...new Set(state.nodes.map((n) => n.cluster))];

  const saps: Omit<SapPlan, 'config'>[] = [];
  for (const n of state.nodes)
    saps.push({
      id: nodeSapId(n.name),
      role: 'node',
      cluster: n.cluster,
      host: `node:${n.name}`,
      listen: { ip: n.ip, port: GUE_PORT },
    });
  clusters.forEach((c, ci) => {
    const t = opts.topology?.clusters.find((x) => x.name === c);
    const ip = t?.gateway ?? ADDRESS_PLAN.gateway(ci);
    const second = (t?.gateways ?? []).find((g) => g.includes(':') !== ip.includes(':'));
    saps.push({
      id: gatewaySapId(c),
      role: 'gateway',
      cluster: c,
      host: GATEWAY_HOST,
      listen: { ip, port: GUE_PORT },
      ...(second ? { listen6: { ip: second, port: GUE_PORT } } : {}),
    });
  });
  const sapById = new Map(saps.map((s) => [s.id, s]));
  // Unmanaged hosts enter through the gateway of the first cluster; other clusters are reached gateway to gateway.
  const externalSap = clusters.length > 0 ? gatewaySapId(clusters[0]!) : undefined;
  const homeSap = (e: Endpoint) => (e.kind === 'pod' ? nodeSapId(e.pod!.node) : externalSap!);

  const overlayEps = cs.endpoints.filter(hasAgent);
  // Families: a single-stack IPv4 state compiles exactly as before; otherwise rules are resolved per family.
  const multi = cs.families.length > 1 || cs.families[0] === 'IPv6';
  const has = (e: Endpoint, f: IPFamily) => e.ips.some((a) => a.includes(':') === (f === 'IPv6'));
  const ips6 = new Map<EndpointRef, string>();
  if (multi) for (const e of overlayEps) if (has(e, 'IPv6')) ips6.set(e.ref, overlayIp6(ips.get(e.ref)!));
  // An agent speaks GUE over its own primary address's family: to its SaP's socket of that family.
  const sapAddrFor = (s: Omit<SapPlan, 'config'>, e: Endpoint): Addr =>
    s.listen.ip.includes(':') === e.ip.includes(':') || !s.listen6 ? s.listen : s.listen6;
  const agents: AgentPlan[] = [];
  if (externalSap)
    for (const e of overlayEps) {
      const sap = sapAddrFor(sapById.get(homeSap(e))!, e);
      const ov6 = ips6.get(e.ref);
      agents.push({
        ref: e.ref,
        overlayIp: ips.get(e.ref)!,
        ...(ov6 ? { overlayIp6: ov6 } : {}),
        config: {
          version: opts.version,
          overlayId,
          overlayIp: ips.get(e.ref)!,
          overlayCidr: OVERLAY_CIDR,
          ...(ov6 ? { overlayIp6: ov6, overlayCidr6: OVERLAY_CIDR6 } : {}),
          keys,
          sendEpoch,
          listen: { ip: canonicalIp(e.ip), port: GUE_PORT },
          sap,
          acceptFrom: [sap],
        },
      });
    }

  const peersFor = peerInterner(cs, ips);
  const sapPlans: SapPlan[] = saps.map((s) => {
    const endpoints = overlayEps.map((e) => {
      const home = homeSap(e);
      const base = { overlayIp: ips.get(e.ref)!, sap: home, name: e.ref };
      const fam = multi ? { ipv4: has(e, 'IPv4'), ipv6: has(e, 'IPv6') } : {};
      if (home !== s.id) return { ...base, ...fam };
      const v4 = !multi || has(e, 'IPv4');
      const v6 = multi && has(e, 'IPv6');
      return {
        ...base,
        ...fam,
        agent: { ip: canonicalIp(e.ip), port: GUE_PORT },
        isolatedIngress: cs.ingressBy[e.index]!.length > 0,
        isolatedEgress: cs.egressBy[e.index]!.length > 0,
        ingress: v4 ? ingressEntries(cs, e, peersFor, multi ? 'IPv4' : undefined) : [],
        egress: v4 ? egressEntries(cs, e, ips, peersFor, multi ? 'IPv4' : undefined) : [],
        ...(v6
          ? {
              ingress6: ingressEntries(cs, e, peersFor, 'IPv6'),
              egress6: egressEntries(cs, e, ips, peersFor, 'IPv6'),
            }
          : {}),
      };
    });
    // Another cluster's SaPs are reached through this cluster's gateway, then theirs.
    const routes: { sap: string; via: string }[] = [];
    for (const t of saps) {
      if (t.id === s.id || t.cluster === s.cluster) continue;
      const via = s.role === 'gateway' ? gatewaySapId(t.cluster) : gatewaySapId(s.cluster);
      if (via !== t.id) routes.push({ sap: t.id, via });
    }
    return {
      ...s,
      config: {
        version: opts.version,
        sapId: s.id,
        overlayId,
        keys,
        sendEpoch,
        listen: s.listen,
        ...(s.listen6 ? { listen6: s.listen6 } : {}),
        endpoints,
        saps: saps
          .filter((t) => t.id !== s.id)
          .map((t) => ({ id: t.id, addr: t.listen, ...(t.listen6 ? { addr6: t.listen6 } : {}) })),
        routes,
      },
    };
  });

  return {
    version: opts.version,
    overlayId,
    overlayIps: ips,
    ...(multi ? { overlayIps6: ips6 } : {}),
    saps: sapPlans,
    agents,
    notes: staticNotes(cs),
  };
}

/**
 * Why the overlay cannot reproduce NetworkPolicy's verdict for a flow, or undefined when it can. Cells with a
 * reason are reported by name (and reason) instead of as failures when the observed result differs.
 */
export function inexpressibleReason(
  state: ClusterState,
  flow: { from: EndpointRef; to: EndpointRef; protocol: string },
): string | undefined {
  if (flow.protocol === 'SCTP') return 'SCTP: this kernel has no SCTP sockets';
  const cs = compileState(state);
  for (const ref of [flow.from, flow.to]) {
    const i = cs.byRef.get(ref);
    if (i !== undefined && !hasAgent(cs.endpoints[i]!)) return `${ref}: ${NODE_REASON}`;
  }
  return undefined;
}
