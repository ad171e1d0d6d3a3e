import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AUTH_MAC, DROP, GueHeader, Keyring, PROTO_IPV4, decode, encodeMacHeader, verify } from './codec.ts';
import { MAC_AUTH_LEN, ReplayWindow, SeqCounter, readSeq, sealMac } from './mac.ts';

const KEY = Buffer.alloc(32, 7);
const ring = new Keyring(9, [{ epoch: 1, key: KEY }], AUTH_MAC);

function macPacket(inner: Buffer, seq: number, key = KEY): Buffer {
  const b = Buffer.alloc(12 + MAC_AUTH_LEN + inner.length);
  const hl = encodeMacHeader(b, 0, PROTO_IPV4, 9, 1);
  inner.copy(b, hl);
  sealMac(b, 0, hl, inner.length, key, seq);
  return b;
}
const inner = Buffer.concat([Buffer.from([0x45]), Buffer.alloc(99, 3)]);

describe('mode mac', () => {
  it('verifies a sealed packet and carries the sequence number', () => {
    const p = macPacket(inner, 2 ** 40 + 5);
    const h = new GueHeader();
    expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
    expect([h.mode, h.authLen, h.hdrLen]).toEqual([AUTH_MAC, 24, 36]);
    expect(verify(p, h, ring)).toBe(DROP.ok);
    expect(readSeq(p, 0)).toBe(2 ** 40 + 5);
  });

  it('rejects a changed inner header, sequence number or key, and the other mode', () => {
    const h = new GueHeader();
    for (const pos of [36 + 12, 36 + 19, 12, 19, 30]) {
      const p = macPacket(inner, 77);
      p[pos]! ^= 1;
      expect(decode(p, 0, p.length, h)).toBe(DROP.ok);
      expect(verify(p, h, ring)).toBe(DROP.badKey);
    }
    const other = macPacket(inner, 77, Buffer.alloc(32, 8));
    decode(other, 0, other.length, h);
    expect(verify(other, h, ring)).toBe(DROP.badKey);
    const p = macPacket(inner, 77);
    decode(p, 0, p.length, h);
    expect(verify(p, h, new Keyring(9, [{ epoch: 1, key: KEY }]))).toBe(DROP.unknownMode);
  });

  it('replay window: each sequence once, nothing older than the window', () => {
    const w = new ReplayWindow(64);
    expect(w.accept(100)).toBe(true);
    expect(w.accept(100)).toBe(false);
    expect(w.accept(99)).toBe(true);
    expect(w.accept(37)).toBe(true);
    expect(w.accept(36)).toBe(false); // 100 - 36 = 64: outside
    expect(w.accept(200)).toBe(true);
    expect(w.accept(99)).toBe(false);
    expect(w.accept(150)).toBe(true);
    expect(w.accept(150)).toBe(false);
  });

  it('replay window agrees with a set model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(300), { maxLength: 200 }), (seqs) => {
        const w = new ReplayWindow(32);
        const seen = new Set<number>();
        let hi = -1;
        for (const s of seqs) {
          const want = !seen.has(s) && (s > hi || hi - s < 32);
          expect(w.accept(s)).toBe(want);
          if (want) {
            seen.add(s);
            hi = Math.max(hi, s);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('sequence counters start from the clock and increase', () => {
    const a = new SeqCounter();
    const x = a.next();
    expect(a.next()).toBe(x + 1);
    expect(x).toBeGreaterThan(Date.now() * 1000 - 10_000_000);
    expect(x).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });
});
