// Inner IPv6 in the overlay: the codec carries it (Proto 41) and the SaP's IPv6 parser walks extension headers
// to the transport header, follows fragments by their 32-bit id, and never throws or reads out of bounds on
// arbitrary bytes (fuzzed). Outer IPv6 is invisible here: the codec decodes the UDP payload, whichever family
// carried it (the outer-IPv6 path runs end to end in test/integration/overlay-security-ipv6.test.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DROP,
  FIXED_LEN,
  GueHeader,
  Keyring,
  PROTO_IPV6,
  decode,
  encodeHeader,
  headerLength,
  verify,
} from '../gue/codec.ts';
import { overlayIp6, overlayPrefixWords } from '../control-plane/addressing6.ts';
import ipaddr from 'ipaddr.js';
import { INNER_FRAGMENT, INNER_MALFORMED, INNER_NOT_OVERLAY, INNER_OK, Inner, parseIpv6 } from './packet.ts';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const ring = new Keyring(7, [{ epoch: 3, key: KEY }]);
const PREFIX = overlayPrefixWords();
const A = overlayIp6('100.65.1.10');
const B = overlayIp6('100.65.2.10');

/** IPv6 header + extension headers (each [type, bytes]) + transport bytes. */
function ipv6(src: string, dst: string, exts: [number, Buffer][], proto: number, l4: Buffer): Buffer {
  // Each extension header names the next one (the last names the transport), set before they are joined.
  exts.forEach(([, b], i) => (b[0] = i + 1 < exts.length ? exts[i + 1]![0] : proto));
  const chain = exts.map(([, b]) => b);
  const payload = Buffer.concat([...chain, l4]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = exts.length ? exts[0]![0] : proto;
  h[7] = 64;
  Buffer.from(ipaddr.parse(src).toByteArray()).copy(h, 8);
  Buffer.from(ipaddr.parse(dst).toByteArray()).copy(h, 24);
  return Buffer.concat([h, payload]);
}
const opts8 = () => Buffer.alloc(8); // hop-by-hop / destination options, 8 bytes (Hdr Ext Len 0)
function frag(offset8: number, more: boolean, id: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE((offset8 << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(id, 4);
  return b;
}
const udp = (sport: number, dport: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  return b;
};

describe('inner IPv6 parser', () => {
  it('reads addresses as identities and ports behind extension headers', () => {
    const p = new Inner();
    const pkt = ipv6(
      A,
      B,
      [
        [0, opts8()],
        [60, opts8()],
      ],
      17,
      udp(4000, 53),
    );
    expect(parseIpv6(pkt, 0, pkt.length, PREFIX, p)).toBe(INNER_OK);
    expect([p.src, p.dst, p.proto, p.sport, p.dport]).toEqual([0x6441010a, 0x6441020a, 17, 4000, 53]);
  });
  it('first fragment carries ports; later fragments are INNER_FRAGMENT with the 32-bit id', () => {
    const p = new Inner();
    const first = ipv6(A, B, [[44, frag(0, true, 0xdeadbeef)]], 6, udp(1234, 80));
    expect(parseIpv6(first, 0, first.length, PREFIX, p)).toBe(INNER_OK);
    expect([p.moreFrags, p.ipId >>> 0, p.dport]).toEqual([true, 0xdeadbeef, 80]);
    const later = ipv6(A, B, [[44, frag(185, false, 0xdeadbeef)]], 6, Buffer.alloc(16));
    expect(parseIpv6(later, 0, later.length, PREFIX, p)).toBe(INNER_FRAGMENT);
    expect([p.proto, p.ipId >>> 0]).toEqual([6, 0xdeadbeef]);
  });
  it('ICMPv6 echo pairs request and reply by identifier; non-overlay and truncated input are refused', () => {
    const p = new Inner();
    const echo = Buffer.from([128, 0, 0, 0, 0x12, 0x34, 0, 1]);
    const pkt = ipv6(A, B, [], 58, echo);
    expect(parseIpv6(pkt, 0, pkt.length, PREFIX, p)).toBe(INNER_OK);
    expect([p.sport, p.dport]).toEqual([0x1234, 0x1234]);
    const outside = ipv6('fd00:10:1:1::a', B, [], 17, udp(1, 2));
    expect(parseIpv6(outside, 0, outside.length, PREFIX, p)).toBe(INNER_NOT_OVERLAY);
    expect(parseIpv6(pkt, 0, 39, PREFIX, p)).toBe(INNER_MALFORMED);
    const short = ipv6(A, B, [[0, opts8()]], 17, Buffer.alloc(2));
    expect(parseIpv6(short, 0, short.length, PREFIX, p)).toBe(INNER_MALFORMED);
  });
  it('fuzz: arbitrary bytes (valid prefix planted) never throw and never read past the packet (100k)', () => {
    const p = new Inner();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, plant) => {
        const b = Buffer.from(bytes);
        if (plant && b.length >= 40) {
          b[0] = 0x60 | (b[0]! & 0x0f);
          b.writeUInt16BE(Math.min(b.length - 40, b.readUInt16BE(4)), 4);
          const pre = Buffer.from(ipaddr.parse(A).toByteArray()).subarray(0, 12);
          pre.copy(b, 8);
          pre.copy(b, 24);
        }
        // A guard region after the packet: whatever lies there must not change the result.
        const withTail = Buffer.concat([b, Buffer.alloc(64, 0xff)]);
        const r1 = parseIpv6(b, 0, b.length, PREFIX, p);
        const s1 = [p.src, p.dst, p.proto, p.sport, p.dport];
        const r2 = parseIpv6(withTail, 0, b.length, PREFIX, p);
        expect(r2).toBe(r1);
        if (r1 === INNER_OK) expect([p.src, p.dst, p.proto, p.sport, p.dport]).toEqual(s1);
      }),
      { numRuns: 100_000 },
    );
  });
});

describe('GUE codec with inner IPv6', () => {
  function packet(inner: Buffer): Buffer {
    const hl = headerLength(KEY.length);
    const buf = Buffer.alloc(hl + inner.length);
    encodeHeader(buf, 0, PROTO_IPV6, 7, 3, KEY);
    inner.copy(buf, hl);
    return buf;
  }
  it('round-trips and refuses an inner version that disagrees with Proto 41', () => {
    const inner = ipv6(A, B, [], 17, udp(1, 2));
    const h = new GueHeader();
    const p = packet(inner);
    expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
    expect([h.proto, verify(p, h, ring)]).toEqual([PROTO_IPV6, DROP.ok]);
    p[h.innerOff] = 0x45;
    expect(decode(p, 0, p.length, h)).toBe(DROP.badInner);
  });
  it('fuzz: mutated valid IPv6 packets never throw; only an intact key verifies; the parser copes (100k)', () => {
    const h = new GueHeader();
    const inner = new Inner();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.array(fc.tuple(fc.nat(220), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: -60, max: 40 }),
        (l4, flips, resize) => {
          const base = packet(ipv6(A, B, [[0, opts8()]], 6, Buffer.from(l4)));
          const p = Buffer.alloc(Math.max(0, base.length + resize));
          base.copy(p, 0, 0, Math.min(base.length, p.length));
          for (const [pos, x] of flips) if (pos < p.length) p[pos]! ^= x;
          const keyTouched =
            p.length >= FIXED_LEN + 16 &&
            !p.subarray(FIXED_LEN, FIXED_LEN + 16).equals(base.subarray(FIXED_LEN, FIXED_LEN + 16));
          if (decode(p, 0, p.length, h) !== DROP.ok) return;
          const v = verify(p, h, ring);
          if (keyTouched && h.authOff === FIXED_LEN) expect(v).not.toBe(DROP.ok);
          const r = h.proto === PROTO_IPV6 ? parseIpv6(p, h.innerOff, h.innerLen, PREFIX, inner) : INNER_OK;
          expect([INNER_OK, INNER_MALFORMED, INNER_FRAGMENT, INNER_NOT_OVERLAY]).toContain(r);
          if (flips.length === 0 && resize === 0 && l4.length >= 4) {
            expect(v).toBe(DROP.ok);
            expect(r).toBe(INNER_OK);
            expect(inner.dport).toBe((l4[2]! << 8) | l4[3]!);
          }
        },
      ),
      { numRuns: 100_000 },
    );
  });
});
