// The SaP decision for one GUE datagram: authorize, check the sender, evaluate default-deny policy (with a flow
// cache), pick the next hop, and re-key the header in place. Pure (no sockets); main.ts does the I/O.
import {
  AUTH_KEY,
  AUTH_MAC,
  DROP_NAMES,
  DROP,
  GueHeader,
  Keyring,
  PROTO_IPV6,
  decode,
  encodeHeader,
  headerLength,
  rewriteAuth,
  verify,
} from '../gue/codec.ts';
import { ReplayWindow, SeqCounter, readSeq, sealMac } from '../gue/mac.ts';
import type { SapConfig } from './config.ts';
import { FlowCache } from './flowcache.ts';
import {
  FAMILY6,
  INNER_FRAGMENT,
  INNER_NOT_OVERLAY,
  INNER_OK,
  Inner,
  ipToU32,
  parseIpv4,
  parseIpv6,
} from './packet.ts';
import { canonicalIp, overlayPrefixWords } from '../control-plane/addressing6.ts';
import { type CompiledEntry, allows, compileEntries } from './policy.ts';

interface Ep {
  local: boolean;
  agentIp: string;
  agentPort: number;
  /** Next hop for packets to this endpoint (its agent, or a SaP); empty when unreachable. */
  hopIp: string;
  hopPort: number;
  isoIn: boolean;
  isoOut: boolean;
  ingress: CompiledEntry[];
  egress: CompiledEntry[];
  v4: boolean;
  v6: boolean;
  ingress6: CompiledEntry[];
  egress6: CompiledEntry[];
}

/** Where to send a forwarded packet: buf[off, off+len) to ip:port. Reused across packets. */
export class Forward {
  buf: Buffer = Buffer.alloc(0);
  off = 0;
  len = 0;
  ip = '';
  port = 0;
}

export type Counters = Record<string, number>;

// The fragment cache keys on (src, dst, proto, two 16-bit words): IPv4's 16-bit IP id, IPv6's 32-bit one split.
const fragHi = (id: number, v6: boolean) => (v6 ? id >>> 16 : id);
const fragLo = (id: number, v6: boolean) => (v6 ? id & 0xffff : 0);

/** Mode-`mac` state that outlives config versions: per-sender replay windows and this SaP's sequence. */
export class MacState {
  readonly windows = new Map<string, ReplayWindow>();
  readonly seq = new SeqCounter();
}

export class SapEngine {
  readonly version: number;
  private readonly ring: Keyring;
  private readonly sendEpoch: number;
  private readonly sendKey: Buffer;
  private readonly eps = new Map<number, Ep>();
  private readonly sapPort = new Map<string, number>();
  private readonly agents = new Set<string>();
  private readonly h = new GueHeader();
  private readonly inner = new Inner();
  /** First fragments allowed recently; a new config starts with an empty one. */
  private readonly frags = new FlowCache(4096, 5000);
  private readonly prefix6: Uint32Array;

  constructor(
    cfg: SapConfig,
    readonly counters: Counters,
    readonly cache: FlowCache,
    private readonly mac = new MacState(),
  ) {
    this.version = cfg.version;
    this.ring = Keyring.fromHex(cfg.overlayId, cfg.keys, cfg.authMode === 'mac' ? AUTH_MAC : AUTH_KEY);
    this.sendEpoch = cfg.sendEpoch;
    this.sendKey = this.ring.get(cfg.sendEpoch)!;
    cache.idleMs = cfg.flowIdleMs;
    const sapAddr = new Map(cfg.saps.map((s) => [s.id, s.addr]));
    const via = new Map(cfg.routes.map((r) => [r.sap, r.via]));
    this.prefix6 = overlayPrefixWords(cfg.overlayCidr6);
    for (const s of cfg.saps) {
      this.sapPort.set(canonicalIp(s.addr.ip), s.addr.port);
      if (s.addr6) this.sapPort.set(canonicalIp(s.addr6.ip), s.addr6.port);
    }
    for (const e of cfg.endpoints) {
      const local = e.sap === cfg.sapId;
      const hop = local ? e.agent : sapAddr.get(via.get(e.sap) ?? e.sap);
      if (local && e.agent) this.agents.add(`${canonicalIp(e.agent.ip)}:${e.agent.port}`);
      this.eps.set(ipToU32(e.overlayIp), {
        local,
        agentIp: local ? canonicalIp(e.agent!.ip) : '',
        agentPort: local ? e.agent!.port : -1,
        hopIp: hop?.ip ?? '',
        hopPort: hop?.port ?? 0,
        isoIn: e.isolatedIngress,
        isoOut: e.isolatedEgress,
        ingress: compileEntries(e.ingress),
        egress: compileEntries(e.egress),
        v4: e.ipv4,
        v6: e.ipv6,
        ingress6: compileEntries(e.ingress6),
        egress6: compileEntries(e.egress6),
      });
    }
  }

  private drop(name: string): false {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
    return false;
  }

  private malformed(reason: string): false {
    this.drop(`malformed:${reason}`);
    return this.drop('malformed');
  }

  /** Decides on buf[0, len) received from fromIp:fromPort; true = send `out`. */
  process(buf: Buffer, len: number, fromIp: string, fromPort: number, now: number, out: Forward): boolean {
    const c = this.counters;
    c.rx = (c.rx ?? 0) + 1;
    const h = this.h;
    let code = decode(buf, 0, len, h);
    if (code !== DROP.ok) return this.malformed(DROP_NAMES[code]!);
    code = verify(buf, h, this.ring);
    if (code !== DROP.ok) return this.drop(DROP_NAMES[code]!);
    if (h.mode === AUTH_MAC) {
      const sender = `${fromIp}:${fromPort}`;
      let w = this.mac.windows.get(sender);
      if (!w) this.mac.windows.set(sender, (w = new ReplayWindow()));
      if (!w.accept(readSeq(buf, 0))) return this.drop('replay');
    }
    const p = this.inner;
    // Inner IPv6 is policed exactly as IPv4: the same endpoints (by identity), its own rules, its own flows.
    const v6 = h.proto === PROTO_IPV6;
    const r = v6
      ? parseIpv6(buf, h.innerOff, h.innerLen, this.prefix6, p)
      : parseIpv4(buf, h.innerOff, h.innerLen, p);
    if (r === INNER_NOT_OVERLAY) return this.drop('noRoute');
    if (r !== INNER_OK && r !== INNER_FRAGMENT) return this.malformed(v6 ? 'innerIpv6' : 'innerIpv4');
    const fkey = v6 ? p.proto | FAMILY6 : p.proto;

    const src = this.eps.get(p.src);
    if (this.sapPort.get(fromIp) === fromPort) {
      // A peer SaP vouches for the source's egress, but may not speak for endpoints that live here.
      if (!src || src.local) return this.drop('spoofedSource');
    } else if (!src || !src.local || src.agentIp !== fromIp || src.agentPort !== fromPort) {
      return this.drop(this.agents.has(`${fromIp}:${fromPort}`) ? 'spoofedSource' : 'unknownSender');
    }
    const dst = this.eps.get(p.dst);
    if (!dst || dst.hopIp === '') return this.drop('noRoute');
    // A family an endpoint does not have does not exist for it (no such address in Kubernetes either).
    if (v6 ? !src.v6 || !dst.v6 : !src.v4 || !dst.v4) return this.drop('noRoute');

    if (r === INNER_FRAGMENT) {
      // Later fragments follow the verdict on their first fragment (same src, dst, proto, IP id).
      if (!this.frags.has(p.src, p.dst, fkey, fragHi(p.ipId, v6), fragLo(p.ipId, v6), now))
        return this.drop('fragmentDropped');
      c.allowedFragment = (c.allowedFragment ?? 0) + 1;
    } else if (this.cache.has(p.src, p.dst, fkey, p.sport, p.dport, now)) {
      c.allowedCached = (c.allowedCached ?? 0) + 1;
    } else {
      if (src.local && src.isoOut && !allows(v6 ? src.egress6 : src.egress, p.dst, p.proto, p.dport))
        return this.drop('deniedPolicy');
      if (dst.local && dst.isoIn && !allows(v6 ? dst.ingress6 : dst.ingress, p.src, p.proto, p.dport))
        return this.drop('deniedPolicy');
      this.cache.addFlow(p.src, p.dst, fkey, p.sport, p.dport, now);
      c.allowed = (c.allowed ?? 0) + 1;
    }
    if (p.moreFrags && r === INNER_OK)
      this.frags.add(p.src, p.dst, fkey, fragHi(p.ipId, v6), fragLo(p.ipId, v6), now);

    out.ip = dst.hopIp;
    out.port = dst.hopPort;
    if (h.mode === AUTH_MAC) {
      // Every hop seals anew: its own sequence number, the current send key.
      buf[9] = this.sendEpoch;
      sealMac(buf, 0, h.hdrLen, h.innerLen, this.sendKey, this.mac.seq.next());
      out.buf = buf;
      out.off = 0;
      out.len = len;
    } else if (h.epoch === this.sendEpoch || rewriteAuth(buf, h, this.sendEpoch, this.sendKey)) {
      out.buf = buf;
      out.off = 0;
      out.len = len;
    } else {
      // New key of another length (rare: only during such a rotation): the header size changes, so the packet
      // moves to a fresh buffer (not a shared scratch one: a queued send may still reference it).
      const fresh = Buffer.allocUnsafe(headerLength(this.sendKey.length) + h.innerLen);
      const hl = encodeHeader(fresh, 0, h.proto, h.overlayId, this.sendEpoch, this.sendKey);
      buf.copy(fresh, hl, h.innerOff, h.innerOff + h.innerLen);
      out.buf = fresh;
      out.off = 0;
      out.len = hl + h.innerLen;
    }
    return true;
  }
}
