import { describe, expect, it } from 'vitest';
import {
  bootstrapPercentile,
  bootstrapPercentileDiff,
  fromValues,
  mannWhitney,
  mean,
  medianWithCI,
  normalCdf,
  percentile,
  pool,
  prng,
  type WeightedSample,
} from '../../src/measure/stats.ts';

function exponential(n: number, meanUs: number, shift: number, seed: number): number[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => Math.round(shift + -Math.log(1 - r()) * meanUs));
}
function uniform(n: number, lo: number, hi: number, seed: number): number[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => Math.round(lo + r() * (hi - lo)));
}

describe('percentile', () => {
  it('follows the HdrHistogram rule (smallest value reaching ceil(p·n))', () => {
    const s = fromValues([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(percentile(s, 50)).toBe(5);
    expect(percentile(s, 90)).toBe(9);
    expect(percentile(s, 99)).toBe(10);
    expect(percentile(s, 0)).toBe(1);
    expect(percentile(s, 100)).toBe(10);
    expect(percentile(fromValues([]), 50)).toBeNaN();
  });
  it('matches the analytic quantiles of a uniform distribution', () => {
    const s = fromValues(uniform(100_000, 100, 200, 1));
    expect(percentile(s, 50)).toBeGreaterThanOrEqual(149);
    expect(percentile(s, 50)).toBeLessThanOrEqual(151);
    expect(percentile(s, 90)).toBeGreaterThanOrEqual(189);
    expect(percentile(s, 90)).toBeLessThanOrEqual(191);
    expect(mean(s)).toBeCloseTo(150, 0);
  });
  it('matches the analytic median of an exponential distribution (mean·ln 2)', () => {
    const s = fromValues(exponential(100_000, 100, 0, 2));
    expect(Math.abs(percentile(s, 50) - 100 * Math.LN2)).toBeLessThan(2);
    expect(Math.abs(percentile(s, 99) - 100 * Math.log(100))).toBeLessThan(15);
  });
  it('pool merges counts', () => {
    const p = pool([fromValues([1, 2, 2]), fromValues([2, 3])]);
    expect(p).toEqual({ values: [1, 2, 3], counts: [1, 3, 1] });
  });
});

describe('bootstrap CI of a percentile difference', () => {
  const reps = (shift: number, seed: number): WeightedSample[] =>
    [0, 1, 2].map((i) => fromValues(exponential(3000, 40, 30 + shift, seed * 10 + i)));

  it('recovers a +20 µs shift of the median within the CI', () => {
    const ci = bootstrapPercentileDiff(reps(0, 1), reps(20, 2), 50, { iterations: 400, seed: 7 });
    expect(ci.lo).toBeLessThanOrEqual(20);
    expect(ci.hi).toBeGreaterThanOrEqual(20);
    expect(ci.lo).toBeGreaterThan(0); // the shift is detected, not just covered
    expect(ci.hi - ci.lo).toBeLessThan(12);
  });
  it('covers 0 for samples from the same distribution', () => {
    const ci = bootstrapPercentileDiff(reps(0, 3), reps(0, 4), 50, { iterations: 400, seed: 7 });
    expect(ci.lo).toBeLessThanOrEqual(0);
    expect(ci.hi).toBeGreaterThanOrEqual(0);
  });
  it('is reproducible from its seed and changes with it', () => {
    const a = reps(0, 5);
    const b = reps(5, 6);
    const x = bootstrapPercentileDiff(a, b, 99, { iterations: 200, seed: 1 });
    const y = bootstrapPercentileDiff(a, b, 99, { iterations: 200, seed: 1 });
    expect(x).toEqual(y);
  });
  it('CI of a single percentile contains the estimate', () => {
    const ci = bootstrapPercentile(reps(0, 8), 50, { iterations: 300 });
    expect(ci.lo).toBeLessThanOrEqual(ci.estimate);
    expect(ci.hi).toBeGreaterThanOrEqual(ci.estimate);
  });
  it('widens when repetitions disagree (run-to-run drift is not hidden)', () => {
    const steady = [0, 1, 2].map((i) => fromValues(exponential(3000, 40, 30, 90 + i)));
    const drifting = [0, 1, 2].map((i) => fromValues(exponential(3000, 40, 30 + i * 15, 90 + i)));
    const base = reps(0, 9);
    const w1 = bootstrapPercentileDiff(base, steady, 50, { iterations: 300 });
    const w2 = bootstrapPercentileDiff(base, drifting, 50, { iterations: 300 });
    expect(w2.hi - w2.lo).toBeGreaterThan(2 * (w1.hi - w1.lo));
  });
});

describe('Mann–Whitney U', () => {
  it('identical distributions are not significant', () => {
    const r = mannWhitney(fromValues(uniform(2000, 0, 100, 11)), fromValues(uniform(2000, 0, 100, 12)));
    expect(r.p).toBeGreaterThan(0.05);
    expect(Math.abs(r.effect - 0.5)).toBeLessThan(0.03);
  });
  it('identical samples give z = 0 and p = 1', () => {
    const s = fromValues(uniform(500, 0, 10, 13));
    const r = mannWhitney(s, s);
    expect(r.z).toBe(0);
    expect(r.p).toBeCloseTo(1, 6);
    expect(r.effect).toBeCloseTo(0.5, 10);
  });
  it('a shifted copy is significant, with the sign of the shift', () => {
    const a = exponential(2000, 40, 30, 14);
    const r = mannWhitney(fromValues(a), fromValues(a.map((x) => x + 20)));
    expect(r.p).toBeLessThan(1e-6);
    expect(r.z).toBeGreaterThan(0);
    expect(r.effect).toBeGreaterThan(0.6);
  });
  it('matches a hand-computed small case with ties', () => {
    // A = {1,2,2}, B = {2,3}: pairs B>A: (2>1),(3>1),(3>2),(3>2) = 4, ties (2,2)x2 = 2 -> U_B = 5
    const r = mannWhitney(fromValues([1, 2, 2]), fromValues([2, 3]));
    expect(r.u).toBe(5);
  });
});

describe('helpers', () => {
  it('normalCdf', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 5);
    expect(normalCdf(-1.959964)).toBeCloseTo(0.025, 5);
  });
  it('medianWithCI over repetitions', () => {
    const ci = medianWithCI([10, 11, 12, 13, 50]);
    expect(ci.estimate).toBe(12);
    expect(ci.lo).toBeGreaterThanOrEqual(10);
    expect(ci.hi).toBeLessThanOrEqual(50);
    expect(ci.lo).toBeLessThanOrEqual(12);
  });
});
