// The few fields of an inner IPv4 packet the SaP decides on. Pure, allocation-free: fills a reused struct.

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export class Inner {
  src = 0;
  dst = 0;
  proto = 0;
  /** Transport ports; for ICMP echo both carry the identifier so request and reply form one flow. */
  sport = 0;
  dport = 0;
  /** IP identification and "more fragments": a first fragment's verdict is remembered for the rest. */
  ipId = 0;
  moreFrags = false;
}

export const INNER_OK = 0;
export const INNER_MALFORMED = 1;
/** Non-first fragment: no ports; src, dst, proto and ipId are filled, the caller decides by the first one. */
export const INNER_FRAGMENT = 2;

export function parseIpv4(buf: Uint8Array, off: number, len: number, out: Inner): number {
  if (len < 20) return INNER_MALFORMED;
  const vihl = buf[off]!;
  if (vihl >> 4 !== 4) return INNER_MALFORMED;
  const ihl = (vihl & 0x0f) * 4;
  const total = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (ihl < 20 || total < ihl || total > len) return INNER_MALFORMED;
  const fragOff = ((buf[off + 6]! & 0x1f) << 8) | buf[off + 7]!;
  out.ipId = (buf[off + 4]! << 8) | buf[off + 5]!;
  out.moreFrags = (buf[off + 6]! & 0x20) !== 0;
  out.proto = buf[off + 9]!;
  out.src = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
  out.dst = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
  if (fragOff !== 0) return INNER_FRAGMENT;
  const l4 = off + ihl;
  const l4len = total - ihl;
  return readTransport(buf, l4, l4len, out.proto, IPPROTO_ICMP, 0, 8, out);
}

export function ipToU32(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  let v = 0;
  for (const s of p) {
    const n = Number(s);
    if (!/^\d{1,3}$/.test(s) || n > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function u32ToIp(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** [network, mask] of "a.b.c.d/n" or a bare address (/32). */
export function parseCidr(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const n = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new RangeError(`bad prefix length: ${cidr}`);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return [(ipToU32(ip!) & mask) >>> 0, mask];
}

export const IPPROTO_ICMPV6 = 58;
/** Inner IPv6 flows are keyed apart from IPv4 ones (flow cache, fragment cache): proto | FAMILY6. */
export const FAMILY6 = 0x100;

// IPv6 extension headers walked to find the transport header (RFC 8200 §4: hop-by-hop, routing, destination
// options, fragment; AH is sized in 4-byte units). ESP and "no next header" end the walk with no ports.
const EXT_HOPOPTS = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_AH = 51;
const EXT_DSTOPTS = 60;
/** More headers than this is treated as malformed (bounded work per packet). */
const MAX_EXT_HEADERS = 8;

/**
 * Inner IPv6 → the same fields as parseIpv4. Overlay IPv6 addresses embed the endpoint's 32-bit overlay
 * identity in their last 32 bits under a fixed /96 (control-plane/addressing.ts); `prefix` is that /96 as three
 * words. An address outside it is no overlay endpoint: INNER_NOT_OVERLAY. The fragment header's 32-bit
 * identification goes to ipId, "more fragments" to moreFrags; a non-first fragment returns INNER_FRAGMENT.
 */
export function parseIpv6(
  buf: Uint8Array,
  off: number,
  len: number,
  prefix: Uint32Array,
  out: Inner,
): number {
  if (len < 40) return INNER_MALFORMED;
  if (buf[off]! >> 4 !== 6) return INNER_MALFORMED;
  const payload = (buf[off + 4]! << 8) | buf[off + 5]!;
  if (40 + payload > len) return INNER_MALFORMED;
  const end = off + 40 + payload;
  for (let w = 0; w < 3; w++) {
    if (word(buf, off + 8 + w * 4) !== prefix[w] || word(buf, off + 24 + w * 4) !== prefix[w])
      return INNER_NOT_OVERLAY;
  }
  out.src = word(buf, off + 20);
  out.dst = word(buf, off + 36);
  out.ipId = 0;
  out.moreFrags = false;
  let next = buf[off + 6]!;
  let p = off + 40;
  for (let n = 0; ; n++) {
    if (n > MAX_EXT_HEADERS) return INNER_MALFORMED;
    if (next === EXT_HOPOPTS || next === EXT_ROUTING || next === EXT_DSTOPTS) {
      if (p + 8 > end) return INNER_MALFORMED;
      next = buf[p]!;
      p += (buf[p + 1]! + 1) * 8;
    } else if (next === EXT_AH) {
      if (p + 8 > end) return INNER_MALFORMED;
      next = buf[p]!;
      p += (buf[p + 1]! + 2) * 4;
    } else if (next === EXT_FRAGMENT) {
      if (p + 8 > end) return INNER_MALFORMED;
      const fragOff = ((buf[p + 2]! << 8) | buf[p + 3]!) >> 3;
      out.moreFrags = (buf[p + 3]! & 1) !== 0;
      out.ipId = word(buf, p + 4);
      next = buf[p]!;
      p += 8;
      if (fragOff !== 0) {
        out.proto = next;
        return INNER_FRAGMENT;
      }
    } else break;
    if (p > end) return INNER_MALFORMED;
  }
  out.proto = next;
  const l4len = end - p;
  // ICMPv6 echo request/reply are 128/129.
  return readTransport(buf, p, l4len, next, IPPROTO_ICMPV6, 129, 128, out);
}

/** Inner IPv6 whose address is not an overlay endpoint's (outside the overlay /96). */
export const INNER_NOT_OVERLAY = 3;

function word(buf: Uint8Array, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

/**
 * Ports of the transport header at `l4` (both families): TCP/UDP/SCTP ports, or the ICMP(v6) echo identifier
 * as both ports so a request and its reply are one flow; other protocols carry no ports.
 */
function readTransport(
  buf: Uint8Array,
  l4: number,
  l4len: number,
  proto: number,
  icmpProto: number,
  echoReply: number,
  echoRequest: number,
  out: { sport: number; dport: number },
): number {
  switch (proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
      if (l4len < 4) return INNER_MALFORMED;
      out.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
      out.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      return INNER_OK;
    case icmpProto: {
      if (l4len < 8) return INNER_MALFORMED;
      const type = buf[l4]!;
      const id = type === echoReply || type === echoRequest ? (buf[l4 + 4]! << 8) | buf[l4 + 5]! : 0;
      out.sport = id;
      out.dport = id;
      return INNER_OK;
    }
    default:
      out.sport = 0;
      out.dport = 0;
      return INNER_OK;
  }
}
