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
  switch (out.proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
      if (l4len < 4) return INNER_MALFORMED;
      out.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
      out.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      return INNER_OK;
    case IPPROTO_ICMP: {
      if (l4len < 8) return INNER_MALFORMED;
      const type = buf[l4]!;
      const id = type === 0 || type === 8 ? (buf[l4 + 4]! << 8) | buf[l4 + 5]! : 0;
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
