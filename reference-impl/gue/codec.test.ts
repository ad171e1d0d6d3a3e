import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DROP,
  FIXED_LEN,
  GueHeader,
  Keyring,
  PROTO_IPV4,
  PROTO_IPV6,
  decode,
  encodeHeader,
  headerLength,
  rewriteAuth,
  verify,
} from './codec.ts';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const ring = new Keyring(7, [{ epoch: 3, key: KEY }]);

function packet(
  inner: Buffer,
  opts: { overlay?: number; epoch?: number; key?: Buffer; proto?: number } = {},
): Buffer {
  const key = opts.key ?? KEY;
  const hl = headerLength(key.length);
  const buf = Buffer.alloc(hl + inner.length);
  encodeHeader(buf, 0, opts.proto ?? PROTO_IPV4, opts.overlay ?? 7, opts.epoch ?? 3, key);
  inner.copy(buf, hl);
  return buf;
}
const ipv4 = (n = 40): Buffer => Buffer.concat([Buffer.from([0x45]), Buffer.alloc(n - 1, 0xab)]);

describe('GUE codec', () => {
  it('round-trips a valid packet with offsets into the same buffer', () => {
    const inner = ipv4(60);
    const p = packet(inner);
    const h = new GueHeader();
    expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
    expect(h).toMatchObject({
      hdrLen: 28,
      proto: 4,
      overlayId: 7,
      epoch: 3,
      authLen: 16,
      innerOff: 28,
      innerLen: 60,
    });
    expect(p.subarray(h.innerOff, h.innerOff + h.innerLen).equals(inner)).toBe(true);
    expect(verify(p, h, ring)).toBe(DROP.ok);
    // Wire layout: ver 0, C 0, Hlen 6 words; proto; flags 0.
    expect([...p.subarray(0, 4)]).toEqual([6, 4, 0, 0]);
  });

  it('rejects wrong key, epoch and overlay with distinct reasons', () => {
    const h = new GueHeader();
    const bad = Buffer.from(KEY);
    bad[15]! ^= 1;
    for (const [p, want] of [
      [packet(ipv4(), { key: bad }), DROP.badKey],
      [packet(ipv4(), { epoch: 4 }), DROP.badEpoch],
      [packet(ipv4(), { overlay: 8 }), DROP.unknownOverlay],
      [packet(ipv4(), { key: Buffer.concat([KEY, Buffer.alloc(4)]) }), DROP.badKey],
    ] as const) {
      expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
      expect(verify(p, h, ring)).toBe(want);
    }
  });

  it('names each structural defect', () => {
    const h = new GueHeader();
    const ok = packet(ipv4());
    const mut = (f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(ok);
      f(b);
      return b;
    };
    const cases: [Buffer, number][] = [
      [ok.subarray(0, 11), DROP.truncated],
      [ok.subarray(0, 20), DROP.truncated],
      [mut((b) => (b[0] = 0x46)), DROP.badVersion],
      [mut((b) => (b[0] = 0x26)), DROP.control],
      [mut((b) => (b[0] = 1)), DROP.badHlen],
      [mut((b) => (b[0] = 7)), DROP.badAuthLen],
      [mut((b) => (b[3] = 0x80)), DROP.unknownFlags],
      [mut((b) => (b[1] = 17)), DROP.badProto],
      [mut((b) => (b[8] = 3)), DROP.unknownMode],
      [mut((b) => (b[8] = 2)), DROP.badAuthLen], // mode mac needs 24 bytes
      [mut((b) => (b[10] = 0)), DROP.badAuthLen],
      [mut((b) => (b[10] = 20)), DROP.badAuthLen],
      [mut((b) => (b[11] = 1)), DROP.badReserved],
      [mut((b) => (b[28] = 0x60)), DROP.badInner],
      [ok.subarray(0, 28), DROP.badInner],
      [packet(Buffer.concat([Buffer.from([0x45]), Buffer.alloc(65535)])), DROP.oversized],
    ];
    for (const [p, want] of cases) expect(decode(p, 0, p.length, h)).toBe(want);
    const v6 = packet(Buffer.from([0x60, 0, 0, 0]), { proto: PROTO_IPV6 });
    expect(decode(v6, 0, v6.length, h)).toBe(DROP.ok);
  });

  it('re-keys in place for a key of the same length', () => {
    const p = packet(ipv4());
    const h = new GueHeader();
    decode(p, 0, p.length, h);
    const k2 = Buffer.alloc(16, 0x5a);
    expect(rewriteAuth(p, h, 9, k2)).toBe(true);
    const r2 = new Keyring(7, [{ epoch: 9, key: k2 }]);
    expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
    expect(h.epoch).toBe(9);
    expect(verify(p, h, r2)).toBe(DROP.ok);
    expect(rewriteAuth(p, h, 9, Buffer.alloc(32))).toBe(false);
  });

  it('fuzz: random bytes never throw, and whatever decodes is self-consistent (100k)', () => {
    const h = new GueHeader();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), fc.nat(8), (bytes, off) => {
        const buf = Buffer.alloc(bytes.length + off);
        Buffer.from(bytes).copy(buf, off);
        const code = decode(buf, off, bytes.length, h);
        expect(code).toBeGreaterThanOrEqual(0);
        if (code === DROP.ok) {
          expect(h.innerOff + h.innerLen).toBe(off + bytes.length);
          expect(h.innerLen).toBeGreaterThan(0);
          expect([PROTO_IPV4, PROTO_IPV6]).toContain(h.proto);
          verify(buf, h, ring);
        }
      }),
      { numRuns: 100_000 },
    );
  });

  it('fuzz: mutated valid packets never throw and only an intact key verifies (100k)', () => {
    const h = new GueHeader();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 120 }),
        fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: -40, max: 40 }),
        (innerRaw, flips, resize) => {
          const inner = Buffer.from(innerRaw);
          inner[0] = 0x45;
          const base = packet(inner);
          const p = Buffer.alloc(Math.max(0, base.length + resize));
          base.copy(p, 0, 0, Math.min(base.length, p.length));
          for (const [pos, x] of flips) if (pos < p.length) p[pos]! ^= x;
          // Compare bytes, not flip positions: two flips of one byte with the same mask cancel out.
          const keyTouched =
            p.length >= FIXED_LEN + 16 &&
            !p.subarray(FIXED_LEN, FIXED_LEN + 16).equals(base.subarray(FIXED_LEN, FIXED_LEN + 16));
          const code = decode(p, 0, p.length, h);
          if (code !== DROP.ok) return;
          const v = verify(p, h, ring);
          if (keyTouched && h.authOff === FIXED_LEN) expect(v).not.toBe(DROP.ok);
          if (flips.length === 0 && resize >= 0) {
            expect(v).toBe(DROP.ok);
            expect(p.subarray(h.innerOff, h.innerOff + inner.length).equals(inner)).toBe(true);
          }
        },
      ),
      { numRuns: 100_000 },
    );
  });
});
