import { describe, expect, it } from 'vitest';
import {
  createHistogram,
  decodeHistogram,
  encodeHistogram,
  mergeHistograms,
  recordNs,
  recordUs,
  summarize,
  toWeightedSample,
} from '../../src/measure/histogram.ts';
import { fromValues, percentile, total } from '../../src/measure/stats.ts';

describe('µs histogram', () => {
  it('records hrtime nanoseconds as rounded microseconds, at least 1 µs', () => {
    const h = createHistogram();
    recordNs(h, 41_499n);
    recordNs(h, 41_500n);
    recordNs(h, 200n);
    const s = summarize(h);
    expect(s.count).toBe(3);
    expect(s.minUs).toBe(1);
    expect(s.maxUs).toBe(42);
    expect(toWeightedSample(h)).toEqual({ values: [1, 41, 42], counts: [1, 1, 1] });
  });
  it('rejects negative and non-finite latencies', () => {
    const h = createHistogram();
    expect(() => recordUs(h, -1)).toThrow(RangeError);
    expect(() => recordUs(h, NaN)).toThrow(RangeError);
  });
  it('survives an encode/decode round trip bit for bit', () => {
    const h = createHistogram();
    for (let i = 1; i <= 5000; i++) recordUs(h, (i * 37) % 3000);
    recordUs(h, 12_345_678);
    const back = decodeHistogram(encodeHistogram(h));
    expect(summarize(back)).toEqual(summarize(h));
    expect(toWeightedSample(back)).toEqual(toWeightedSample(h));
  });
  it('percentiles of the weighted sample agree with the histogram and with raw data below 2,048 µs', () => {
    const raw: number[] = [];
    const h = createHistogram();
    for (let i = 0; i < 10_000; i++) {
      const v = 20 + ((i * 7919) % 1500);
      raw.push(v);
      recordUs(h, v);
    }
    const w = toWeightedSample(h);
    expect(total(w)).toBe(10_000);
    for (const p of [50, 90, 99, 99.9]) {
      expect(percentile(w, p)).toBe(h.getValueAtPercentile(p));
      expect(percentile(w, p)).toBe(percentile(fromValues(raw), p));
    }
  });
  it('merges repetitions', () => {
    const a = createHistogram();
    const b = createHistogram();
    recordUs(a, 10);
    recordUs(b, 30);
    recordUs(b, 30);
    const m = mergeHistograms([a, b]);
    expect(summarize(m).count).toBe(3);
    expect(summarize(m).p50Us).toBe(30);
  });
});
