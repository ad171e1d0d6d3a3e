// IPv6 attack packets for the overlay's security checks, shared by overlay-security-ipv6.test.ts and
// bench/overlay-ebpf-security.ts: inner IPv6/UDP with a valid checksum, GUE (Proto 41) around it, and inner IPv6
// headers that are malformed in the ways sap/packet.ts parseIpv6 (and the eBPF twin, sap_inner.h) must refuse.
import ipaddr from 'ipaddr.js';
import { PROTO_IPV6 } from '../../reference-impl/gue/codec.ts';
import { gueHex } from './overlay-attacks4.ts';

/** IPv6 + UDP with a correct checksum (mandatory over IPv6), so only the overlay's checks can stop it. */
export function ipv6Udp(src: string, dst: string, dport: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(48 + payload.length);
  b[0] = 0x60;
  b.writeUInt16BE(8 + payload.length, 4);
  b[6] = 17;
  b[7] = 64;
  Buffer.from(ipaddr.parse(src).toByteArray()).copy(b, 8);
  Buffer.from(ipaddr.parse(dst).toByteArray()).copy(b, 24);
  b.writeUInt16BE(40000, 40);
  b.writeUInt16BE(dport, 42);
  b.writeUInt16BE(8 + payload.length, 44);
  payload.copy(b, 48);
  let sum = 17 + 8 + payload.length; // pseudo-header: next header and upper-layer length
  for (let i = 8; i < 40; i += 2) sum += b.readUInt16BE(i);
  for (let i = 40; i < b.length; i += 2) sum += i + 1 < b.length ? b.readUInt16BE(i) : b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff || 0xffff, 46);
  return b;
}

/** A GUE datagram (hex, as the UDP tool takes it) carrying `inner` as IPv6 (Proto 41). */
export const gue6 = (overlayId: number, epoch: number, key: Buffer, inner: Buffer): string =>
  gueHex(PROTO_IPV6, overlayId, epoch, key, inner);

/** An IPv6 header (payload length = what follows) with `next` and the given bytes after it. */
function ipv6With(src: string, dst: string, next: number, rest: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(rest.length, 4);
  h[6] = next;
  h[7] = 64;
  Buffer.from(ipaddr.parse(src).toByteArray()).copy(h, 8);
  Buffer.from(ipaddr.parse(dst).toByteArray()).copy(h, 24);
  return Buffer.concat([h, rest]);
}

/** An 8-byte extension header (destination options or hop-by-hop: PadN only) naming `next`. */
const ext8 = (next: number, hdrExtLen = 0) => Buffer.from([next, hdrExtLen, 1, 4, 0, 0, 0, 0]);

/**
 * Inner IPv6 packets between two overlay addresses that pass GUE decoding (version nibble 6) but that the
 * SaP's inner parser must drop as malformed: truncated headers, a payload length past the datagram, extension
 * header chains that are too long or run past the end, transport headers cut short. Named, for reports.
 */
export function malformedInner6(src: string, dst: string): Record<string, Buffer> {
  const good = ipv6Udp(src, dst, 9999, Buffer.from('attack'));
  const lenPlus = Buffer.from(good);
  lenPlus.writeUInt16BE(lenPlus.readUInt16BE(4) + 64, 4);
  const chain9 = Buffer.concat([...Array.from({ length: 9 }, () => ext8(60)), good.subarray(40, 48)]);
  chain9[8 * 8] = 17; // the 9th header names UDP; still one too many (at most 8)
  return {
    'truncated IPv6 header (20 of 40 bytes)': good.subarray(0, 20),
    'payload length past the datagram': lenPlus,
    'nine extension headers (limit 8)': ipv6With(src, dst, 0, chain9),
    'destination options length past the end': ipv6With(
      src,
      dst,
      60,
      Buffer.concat([ext8(17, 200), good.subarray(40)]),
    ),
    'extension header cut short (4 bytes)': ipv6With(src, dst, 60, Buffer.from([17, 0, 1, 2])),
    'AH length past the end': ipv6With(
      src,
      dst,
      51,
      Buffer.concat([Buffer.from([17, 60, 0, 0, 0, 0, 0, 0]), good.subarray(40)]),
    ),
    'UDP header cut short (2 bytes)': ipv6With(src, dst, 17, Buffer.from([0x9c, 0x40])),
    'ICMPv6 header cut short (4 bytes)': ipv6With(src, dst, 58, Buffer.from([128, 0, 0, 0])),
    'fragment header cut short': ipv6With(src, dst, 44, Buffer.from([17, 0, 0, 1])),
  };
}
