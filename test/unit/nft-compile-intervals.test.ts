import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cidrInterval,
  intervalToCidrs,
  ipBlockIntervals,
  normalize,
  subtract,
  type Interval,
} from '../../src/enforce/native/intervals.ts';
import { ipInBlock } from '../../src/policy/engine.ts';

const inAny = (list: readonly Interval[], v: bigint) => list.some(([lo, hi]) => v >= lo && v <= hi);
const v4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

describe('interval arithmetic', () => {
  it('normalize merges overlapping and adjacent ranges into sorted disjoint ones', () => {
    expect(
      normalize([
        [5n, 9n],
        [0n, 2n],
        [3n, 4n],
        [20n, 30n],
        [25n, 26n],
      ]),
    ).toEqual([
      [0n, 9n],
      [20n, 30n],
    ]);
  });

  it('subtract keeps exactly the points of base outside the holes (property, small universe)', () => {
    const iv = fc
      .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 40 }))
      .map(([a, w]) => [BigInt(a), BigInt(a + w)] as const);
    fc.assert(
      fc.property(fc.array(iv, { maxLength: 5 }), fc.array(iv, { maxLength: 5 }), (b, h) => {
        const base = normalize(b);
        const holes = normalize(h);
        const out = subtract(base, holes);
        // Sorted, disjoint and not adjacent (nft would merge or reject otherwise).
        for (let i = 1; i < out.length; i++) expect(out[i]![0] > out[i - 1]![1] + 1n).toBe(true);
        for (let v = 0n; v <= 250n; v++) expect(inAny(out, v)).toBe(inAny(base, v) && !inAny(holes, v));
      }),
      { numRuns: 300 },
    );
  });

  it('intervalToCidrs covers exactly the range with aligned prefixes', () => {
    expect(intervalToCidrs(cidrInterval('10.0.0.0/8').interval, 4)).toEqual(['10.0.0.0/8']);
    expect(
      intervalToCidrs([cidrInterval('10.0.0.5/32').interval[0], cidrInterval('10.0.0.8/32').interval[0]], 4),
    ).toEqual(['10.0.0.5', '10.0.0.6/31', '10.0.0.8']);
    expect(intervalToCidrs(cidrInterval('0.0.0.0/0').interval, 4)).toEqual(['0.0.0.0/0']);
    expect(intervalToCidrs(cidrInterval('fd00::/120').interval, 6)).toEqual(['fd00::/120']);
  });

  it('a CIDR with host bits set means its network', () => {
    expect(cidrInterval('10.1.2.3/16').interval).toEqual(cidrInterval('10.1.0.0/16').interval);
  });

  it('ipBlockIntervals agrees with the engine on random addresses (except carved out, families apart)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 8, max: 16 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: 12, max: 32 })), {
          maxLength: 4,
        }),
        fc.array(fc.integer({ min: 0, max: 2 ** 24 - 1 }), { minLength: 20, maxLength: 20 }),
        (first, bits, ex, probes) => {
          const base = first * 2 ** 24;
          const cidr = `${v4(base)}/${bits}`;
          const except = ex.map(([off, b]) => {
            const mask = b === 32 ? 0xffffffff : ~(2 ** (32 - b) - 1) >>> 0;
            return `${v4(((base + off) & mask) >>> 0)}/${b}`;
          });
          const block = { cidr, except: [...except, 'fd00::/8'] };
          const { v4: list, v6 } = ipBlockIntervals([block]);
          expect(v6).toEqual([]);
          for (const off of probes) {
            const ip = v4(base + off);
            expect(inAny(list, BigInt(base + off))).toBe(ipInBlock(ip, block));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an IPv6 block yields only IPv6 ranges; an IPv4 except does not carve it', () => {
    const r = ipBlockIntervals([{ cidr: 'fd00::/64', except: ['10.0.0.0/8'] }]);
    expect(r.v4).toEqual([]);
    expect(r.v6).toEqual([cidrInterval('fd00::/64').interval]);
  });
});
