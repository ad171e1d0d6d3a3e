// Latency histograms in integer microseconds (DESIGN.md "Measuring honestly"). A thin wrapper over
// hdr-histogram-js so the rest of the code never sees its API: record, merge, encode for storage, summarise,
// and expand into a (value, count) sample that the pure statistics in stats.ts work on.
import * as hdr from 'hdr-histogram-js';
import type { WeightedSample } from './stats.ts';

export type Histogram = hdr.Histogram;

/** 1 µs .. 60 s at 3 significant digits: every value below 2,048 µs is stored exactly. */
const LOWEST_US = 1;
const HIGHEST_US = 60_000_000;
const DIGITS = 3;

export interface LatencySummary {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export function createHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: LOWEST_US,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: DIGITS,
    bitBucketSize: 32,
    autoResize: true,
    useWebAssembly: false,
  });
}

/** Records one latency given in microseconds (float allowed); rounded, and at least 1 µs (HDR's floor). */
export function recordUs(h: Histogram, us: number): void {
  if (!Number.isFinite(us) || us < 0)
    throw new RangeError(`latency must be a finite non-negative number, got ${us}`);
  h.recordValue(Math.max(LOWEST_US, Math.round(us)));
}

/** Records a duration measured with process.hrtime.bigint() (nanoseconds). */
export function recordNs(h: Histogram, ns: bigint | number): void {
  recordUs(h, Number(ns) / 1000);
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(base64: string): Histogram {
  // Decoding yields the library's default (packed) flavour; copy into our own shape so merges stay uniform.
  const decoded = hdr.decodeFromCompressedBase64(base64, 32, false);
  const h = createHistogram();
  h.add(decoded);
  return h;
}

export function mergeHistograms(hs: Histogram[]): Histogram {
  const out = createHistogram();
  for (const h of hs) out.add(h);
  return out;
}

export function summarize(h: Histogram): LatencySummary {
  const count = h.totalCount;
  if (count === 0)
    return { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  return {
    count,
    minUs: h.minNonZeroValue,
    meanUs: h.mean,
    p50Us: h.getValueAtPercentile(50),
    p90Us: h.getValueAtPercentile(90),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    // Bucket-level max (not the exact recorded max) so a summary survives encode/decode unchanged.
    maxUs: h.getValueAtPercentile(100),
  };
}

/**
 * The histogram as sorted distinct values with their counts. Each value is the highest equivalent value of its
 * HDR bucket (as getValueAtPercentile reports it), which is the exact recorded value below 2,048 µs.
 */
export function toWeightedSample(h: Histogram): WeightedSample {
  const values: number[] = [];
  const counts: number[] = [];
  const it = (h as unknown as { recordedValuesIterator: RecordedIterator }).recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    values.push(v.valueIteratedTo);
    counts.push(v.countAtValueIteratedTo);
  }
  return { values, counts };
}

interface RecordedIterator {
  reset(): void;
  hasNext(): boolean;
  next(): { valueIteratedTo: number; countAtValueIteratedTo: number };
}
