// The second back end of the overlay compiler: the same SapConfig / AgentConfig the control plane pushes to the
// user-space processes, rendered into BPF map entries (byte layouts of sap_maps.h, agent.bpf.c, common.h on a
// little-endian host). Pure: config in, entries out. Every table is written into one of two slots; the loader
// fills the inactive slot and then flips `active`, so no packet ever sees half a version.
import ipaddr from 'ipaddr.js';
import { MAX_AUTH_LEN, PROTO_IPV4, encodeHeader } from '../gue/codec.ts';
import { OVERLAY_CIDR6 } from '../control-plane/addressing6.ts';
import type { AgentConfig } from '../agent/config.ts';
import type { AllowEntry, SapConfig } from '../sap/config.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ipToU32, parseCidr } from '../sap/packet.ts';

export type Slot = 0 | 1;
export interface MapEntry {
  map: string;
  key: Buffer;
  value: Buffer;
}

export const MAX_KEY = 64;
/** sizeof(struct sap_cfg), struct ep_val (sap_maps.h) and struct agent_cfg (agent.bpf.c). */
const SAP_CFG_SIZE = 120;
const EP_VAL_SIZE = 48;
const AGENT_CFG_SIZE = 248;
export const EP_LOCAL = 1;
export const EP_ISO_IN = 2;
export const EP_ISO_OUT = 4;
export const EP_HAS_HOP = 8;
export const EP_V4 = 16;
export const EP_V6 = 32;
export const EP_AGENT6 = 64;
export const EP_HOP6 = 128;
/** Family bit of pol_peer's `dir` byte: the IPv6 rules (ingress6/egress6). */
export const DIR_V6 = 2;
/** agent_cfg flags: the pod has an overlay IPv6 address; the underlay (outer header) is IPv6. */
export const AG_INNER6 = 1;
export const AG_OUTER6 = 2;
/** The agent programs guard the pod (guard.h): the eBPF agent's form of config `guard`. */
export const AG_GUARD = 4;
export const SENDER_AGENT = 1;
export const SENDER_SAP = 2;
export const PORTSET_ALL = 0;
export const PORTSET_DENY = 0xffffffff;
const DIR_INGRESS = 0;
const DIR_EGRESS = 1;
const PROTO = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP } as const;

/** Little-endian u32s back to back (map keys and values). */
export function u32le(...vs: number[]): Buffer {
  const b = Buffer.alloc(vs.length * 4);
  vs.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}
function ipBe(ip: string | number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(typeof ip === 'number' ? ip >>> 0 : ipToU32(ip));
  return b;
}
const isV6 = (ip: string) => ip.includes(':');
/** 16 bytes of an IPv6 address (network order). */
function ip6Bytes(ip: string): Buffer {
  const a = ipaddr.parse(ip);
  if (a.kind() !== 'ipv6') throw new RangeError(`not an IPv6 address: ${ip}`);
  return Buffer.from(a.toByteArray());
}
/** An underlay address as (IPv4 field, IPv6 field): the one of its family set, the other zero. */
function underlay(ip: string): { v4: Buffer; v6: Buffer } {
  return isV6(ip) ? { v4: Buffer.alloc(4), v6: ip6Bytes(ip) } : { v4: ipBe(ip), v6: Buffer.alloc(16) };
}
function portBe(p: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(p);
  return b;
}

export function activeValue(slot: Slot, gen: number): Buffer {
  return u32le(slot, gen);
}

function keyEntries(keys: { epoch: number; key: string }[], slot: Slot): MapEntry[] {
  return keys.map((k) => {
    const key = Buffer.from(k.key, 'hex');
    const v = Buffer.alloc(4 + MAX_KEY);
    v.writeUInt32LE(key.length);
    key.copy(v, 4);
    return { map: 'keys', key: u32le(slot * 256 + k.epoch), value: v };
  });
}

interface Prefix {
  net: number;
  bits: number;
}
function prefixOf(cidr: string): Prefix {
  const [net, mask] = parseCidr(cidr);
  let bits = 0;
  for (let m = mask; m !== 0; m = (m << 1) >>> 0) bits++;
  return { net, bits };
}
/** a ⊇ b */
function covers(a: Prefix, b: Prefix): boolean {
  if (a.bits > b.bits) return false;
  const mask = a.bits === 0 ? 0 : (0xffffffff << (32 - a.bits)) >>> 0;
  return (b.net & mask) >>> 0 === a.net;
}

/** Aligned power-of-two blocks covering [from, to], as (value, bits) prefixes of a 16-bit port. */
export function portPrefixes(from: number, to: number): { port: number; bits: number }[] {
  const out: { port: number; bits: number }[] = [];
  let lo = from;
  while (lo <= to) {
    let size = 1;
    while ((lo & (size * 2 - 1)) === 0 && lo + size * 2 - 1 <= to && size < 65536) size *= 2;
    out.push({ port: lo, bits: 16 - Math.log2(size) });
    lo += size;
  }
  return out;
}

/**
 * One direction of one endpoint as longest-prefix-match entries: prefix → port set. For every prefix p named by
 * some peer or except, the addresses whose longest match is p are exactly those inside p and no longer named
 * prefix, so "some entry matches" is decided once for p: an entry matches when one of its peers covers p and
 * none of that peer's excepts does. A prefix that no entry matches is stored as DENY, so a shorter allowing
 * prefix does not take over inside an `except` hole.
 */
export function directionPrefixes(
  entries: AllowEntry[],
  portSet: (ranges: string) => number,
): { net: number; bits: number; set: number }[] {
  const all = new Map<string, Prefix>();
  const add = (p: Prefix) => all.set(`${p.net}/${p.bits}`, p);
  const compiled = entries.map((e) => ({
    peers:
      e.peers?.map((p) => {
        const c = prefixOf(p.cidr);
        add(c);
        return { c, except: (p.except ?? []).map((x) => prefixOf(x)) };
      }) ?? null,
    // Each entry's ranges as sortable strings, built once (not once per prefix it matches).
    ranges:
      e.ports && e.ports.length > 0
        ? e.ports.map((r) => `${PROTO[r.protocol]}:${r.portFrom}-${r.portTo}`)
        : null,
  }));
  for (const e of compiled) {
    if (e.peers === null) add({ net: 0, bits: 0 });
    else for (const p of e.peers) for (const x of p.except) add(x);
  }
  // Prefixes matched by the same entries get the same port set: decided once per distinct match.
  const bySignature = new Map<string, number>();
  const out: { net: number; bits: number; set: number }[] = [];
  for (const p of all.values()) {
    const matched: number[] = [];
    compiled.forEach((e, i) => {
      if (e.peers === null || e.peers.some((q) => covers(q.c, p) && !q.except.some((x) => covers(x, p))))
        matched.push(i);
    });
    const sig = matched.join(',');
    let set = bySignature.get(sig);
    if (set === undefined) {
      set = PORTSET_DENY;
      if (matched.length > 0) {
        if (matched.some((i) => compiled[i]!.ranges === null)) set = PORTSET_ALL;
        else {
          const ranges = new Set<string>();
          for (const i of matched) for (const r of compiled[i]!.ranges!) ranges.add(r);
          set = portSet([...ranges].sort().join(','));
        }
      }
      bySignature.set(sig, set);
    }
    out.push({ net: p.net, bits: p.bits, set });
  }
  return out;
}

/** All map entries of one SaP config version, for `slot`. */
export function sapEntries(cfg: SapConfig, slot: Slot): MapEntry[] {
  const out: MapEntry[] = [];
  const sendKey = Buffer.from(cfg.keys.find((k) => k.epoch === cfg.sendEpoch)!.key, 'hex');
  // One socket per underlay family: `listen` is either, `listen6` the other one's (sap/main.ts).
  const socks = [cfg.listen, ...(cfg.listen6 ? [cfg.listen6] : [])];
  const l4 = socks.find((a) => !isV6(a.ip));
  const l6 = socks.find((a) => isV6(a.ip));
  const c = Buffer.alloc(SAP_CFG_SIZE);
  c.writeUInt32LE(cfg.overlayId >>> 0, 0);
  if (l4) {
    ipBe(l4.ip).copy(c, 4);
    portBe(l4.port).copy(c, 8);
  }
  c[10] = cfg.sendEpoch;
  c[11] = sendKey.length;
  c.writeBigUInt64LE(BigInt(cfg.flowIdleMs) * 1_000_000n, 16);
  sendKey.copy(c, 24);
  if (l6) {
    ip6Bytes(l6.ip).copy(c, 88);
    portBe(l6.port).copy(c, 104);
  }
  prefix6Bytes(cfg.overlayCidr6).copy(c, 108);
  out.push({ map: 'sap_cfg', key: u32le(slot), value: c });
  out.push(...keyEntries(cfg.keys, slot));

  const sapAddr = new Map(cfg.saps.map((s) => [s.id, s.addr]));
  const via = new Map(cfg.routes.map((r) => [r.sap, r.via]));
  for (const s of cfg.saps)
    for (const a of [s.addr, ...(s.addr6 ? [s.addr6] : [])]) out.push(senderEntry(slot, a, SENDER_SAP));
  // LPM keys are 16 bytes each, sliced from one zeroed block per 256 (one allocation instead of one per key).
  let block = Buffer.alloc(0);
  let used = 0;
  const key16 = (): Buffer => {
    if (used === block.length) [block, used] = [Buffer.alloc(16 * 256), 0];
    return block.subarray(used, (used += 16));
  };
  const portSets = new Map<string, number>();
  const portSet = (ranges: string): number => {
    let id = portSets.get(ranges);
    if (id === undefined) portSets.set(ranges, (id = portSets.size + 1));
    return id;
  };
  for (const e of cfg.endpoints) {
    const local = e.sap === cfg.sapId;
    const hop = local ? e.agent : sapAddr.get(via.get(e.sap) ?? e.sap);
    const agent = local && e.agent ? e.agent : undefined;
    const flags =
      (local ? EP_LOCAL : 0) |
      (e.isolatedIngress ? EP_ISO_IN : 0) |
      (e.isolatedEgress ? EP_ISO_OUT : 0) |
      (hop ? EP_HAS_HOP : 0) |
      (e.ipv4 ? EP_V4 : 0) |
      (e.ipv6 ? EP_V6 : 0) |
      (agent && isV6(agent.ip) ? EP_AGENT6 : 0) |
      (hop && isV6(hop.ip) ? EP_HOP6 : 0);
    const v = Buffer.alloc(EP_VAL_SIZE);
    if (agent) {
      const a = underlay(agent.ip);
      a.v4.copy(v, 0);
      a.v6.copy(v, 16);
      portBe(agent.port).copy(v, 8);
    }
    if (hop) {
      const h = underlay(hop.ip);
      h.v4.copy(v, 4);
      h.v6.copy(v, 32);
      portBe(hop.port).copy(v, 10);
    }
    v.writeUInt32LE(flags, 12);
    out.push({ map: 'endpoints', key: Buffer.concat([u32le(slot), ipBe(e.overlayIp)]), value: v });
    if (agent) out.push(senderEntry(slot, agent, SENDER_AGENT));
    if (!local) continue;
    const dirs: [number, boolean, AllowEntry[]][] = [
      [DIR_INGRESS, e.isolatedIngress, e.ingress],
      [DIR_EGRESS, e.isolatedEgress, e.egress],
      // IPv6 rules: peers are identities as well (sap/config.ts), so the same prefixes, under the family bit.
      [DIR_INGRESS | DIR_V6, e.isolatedIngress, e.ingress6],
      [DIR_EGRESS | DIR_V6, e.isolatedEgress, e.egress6],
    ];
    const ep = ipToU32(e.overlayIp);
    for (const [dir, iso, entries] of dirs) {
      if (!iso) continue;
      for (const p of directionPrefixes(entries, portSet)) {
        const k = key16();
        k.writeUInt32LE(64 + p.bits, 0);
        k[4] = slot;
        k[5] = dir;
        k.writeUInt32BE(ep, 8);
        k.writeUInt32BE(p.net >>> 0, 12);
        out.push({ map: 'pol_peer', key: k, value: u32le(p.set) });
      }
    }
  }
  // Stage 2: every port set's ranges as port prefixes.
  const one = u32le(1); // shared: entries are only read
  for (const [ranges, id] of portSets)
    for (const r of ranges.split(',')) {
      const colon = r.indexOf(':');
      const dash = r.indexOf('-', colon);
      const proto = Number(r.slice(0, colon));
      for (const p of portPrefixes(Number(r.slice(colon + 1, dash)), Number(r.slice(dash + 1)))) {
        const k = key16();
        k.writeUInt32LE(64 + p.bits, 0);
        k[4] = slot;
        k[5] = proto;
        k.writeUInt32LE(id, 8);
        k.writeUInt16BE(p.port, 12);
        out.push({ map: 'pol_port', key: k, value: one });
      }
    }
  return dedupe(out);
}

/** `senders` (IPv4 underlay) or `senders6` entry for one underlay sender. */
function senderEntry(slot: Slot, a: { ip: string; port: number }, kind: number): MapEntry {
  return isV6(a.ip)
    ? {
        map: 'senders6',
        key: Buffer.concat([u32le(slot), ip6Bytes(a.ip), portBe(a.port), Buffer.alloc(2)]),
        value: u32le(kind),
      }
    : {
        map: 'senders',
        key: Buffer.concat([u32le(slot), ipBe(a.ip), portBe(a.port), Buffer.alloc(2)]),
        value: u32le(kind),
      };
}

/** The overlay IPv6 /96 as 12 bytes (network order); it must be a /96 (identities are its last 32 bits). */
function prefix6Bytes(cidr: string): Buffer {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  if (net.kind() !== 'ipv6' || bits !== 96)
    throw new RangeError(`overlay IPv6 prefix must be a /96: ${cidr}`);
  return Buffer.from(net.toByteArray().slice(0, 12));
}

/** LPM prefixes of several ranges can coincide; the map keeps one entry per key anyway. */
function dedupe(entries: MapEntry[]): MapEntry[] {
  const seen = new Map<string, MapEntry>();
  for (const e of entries) seen.set(`${e.map}:${e.key.toString('latin1')}`, e);
  return [...seen.values()];
}

/** All map entries of one agent config version, for `slot`. */
export function agentEntries(cfg: AgentConfig, slot: Slot): MapEntry[] {
  const key = Buffer.from(cfg.keys.find((k) => k.epoch === cfg.sendEpoch)!.key, 'hex');
  if (key.length > MAX_AUTH_LEN) throw new RangeError('key too long');
  const outer6 = isV6(cfg.listen.ip);
  if (isV6(cfg.sap.ip) !== outer6)
    throw new RangeError(`agent listen ${cfg.listen.ip} and sap ${cfg.sap.ip} are of different families`);
  const c = Buffer.alloc(AGENT_CFG_SIZE);
  const [net, mask] = parseCidr(cfg.overlayCidr);
  c.writeUInt32LE(cfg.overlayId >>> 0, 0);
  ipBe(cfg.overlayIp).copy(c, 4);
  ipBe(net).copy(c, 8);
  ipBe(mask).copy(c, 12);
  const listen = underlay(cfg.listen.ip);
  const sap = underlay(cfg.sap.ip);
  listen.v4.copy(c, 16);
  sap.v4.copy(c, 20);
  portBe(cfg.listen.port).copy(c, 24);
  portBe(cfg.sap.port).copy(c, 26);
  const hl = encodeHeader(c, 32, PROTO_IPV4, cfg.overlayId, cfg.sendEpoch, key);
  c.writeUInt32LE(hl, 28);
  const inner6 = cfg.overlayIp6 !== undefined;
  if (inner6) {
    const [net6, bits6] = ipaddr.parseCIDR(cfg.overlayCidr6 ?? OVERLAY_CIDR6);
    const n = net6.toByteArray();
    const m = ipaddr.IPv6.subnetMaskFromPrefixLength(bits6).toByteArray();
    ip6Bytes(cfg.overlayIp6!).copy(c, 160);
    Buffer.from(n.map((b, i) => b & m[i]!)).copy(c, 176);
    Buffer.from(m).copy(c, 192);
  }
  listen.v6.copy(c, 208);
  sap.v6.copy(c, 224);
  c.writeUInt32LE((inner6 ? AG_INNER6 : 0) | (outer6 ? AG_OUTER6 : 0) | (cfg.guard ? AG_GUARD : 0), 240);
  const out: MapEntry[] = [{ map: 'agent_cfg', key: u32le(slot), value: c }, ...keyEntries(cfg.keys, slot)];
  for (const s of [cfg.sap, ...cfg.acceptFrom]) {
    const e = senderEntry(slot, s, 1);
    out.push({ ...e, map: e.map === 'senders6' ? 'accept6' : 'accept' });
  }
  return dedupe(out);
}

/** Array maps cannot delete: a stale entry is overwritten with zeros (key len 0 = no key for that epoch). */
export const ARRAY_MAPS: Record<string, number> = {
  keys: 4 + MAX_KEY,
  sap_cfg: SAP_CFG_SIZE,
  agent_cfg: AGENT_CFG_SIZE,
};
