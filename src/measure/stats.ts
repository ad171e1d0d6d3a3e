// Pure statistics over latency samples (no I/O). Samples are weighted (distinct value, count) lists because
// that is what an HDR histogram holds; a plain array of numbers converts with fromValues(). Every random
// choice goes through a seeded PRNG so a report re-rendered from the same data shows the same intervals.

/** Sorted distinct values (ascending) with a positive count each. */
export interface WeightedSample {
  values: number[];
  counts: number[];
}

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
}

export function fromValues(xs: readonly number[]): WeightedSample {
  const sorted = [...xs].sort((a, b) => a - b);
  const values: number[] = [];
  const counts: number[] = [];
  for (const x of sorted) {
    if (values.length && values[values.length - 1] === x) counts[counts.length - 1]!++;
    else {
      values.push(x);
      counts.push(1);
    }
  }
  return { values, counts };
}

export function total(s: WeightedSample): number {
  let n = 0;
  for (const c of s.counts) n += c;
  return n;
}

/** Merges samples (e.g. the repetitions of one mode) into one. */
export function pool(samples: readonly WeightedSample[]): WeightedSample {
  const m = new Map<number, number>();
  for (const s of samples) s.values.forEach((v, i) => m.set(v, (m.get(v) ?? 0) + s.counts[i]!));
  const values = [...m.keys()].sort((a, b) => a - b);
  return { values, counts: values.map((v) => m.get(v)!) };
}

/**
 * The value at percentile p (0..100) with HdrHistogram's rule: the smallest value whose cumulative count
 * reaches ceil(p% of n), at least the first value. Using the same rule as the histogram lets a test re-derive
 * a report's figure exactly.
 */
export function percentile(s: WeightedSample, p: number): number {
  const n = total(s);
  if (n === 0) return NaN;
  const target = Math.max(1, Math.ceil((Math.min(p, 100) / 100) * n - 1e-9));
  let cum = 0;
  for (let i = 0; i < s.values.length; i++) {
    cum += s.counts[i]!;
    if (cum >= target) return s.values[i]!;
  }
  return s.values[s.values.length - 1]!;
}

export function mean(s: WeightedSample): number {
  const n = total(s);
  let sum = 0;
  s.values.forEach((v, i) => (sum += v * s.counts[i]!));
  return n ? sum / n : NaN;
}

/** Percentile of plain numbers with linear interpolation (for small lists such as per-repetition medians). */
export function quantileOfNumbers(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** mulberry32: small, fast, good enough for resampling, and reproducible from a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BootstrapOptions {
  iterations?: number;
  seed?: number;
  confidence?: number;
}

/** One side of a comparison prepared for fast resampling: a shared value grid and per-repetition CDFs. */
interface Prepared {
  grid: number[];
  reps: { counts: Float64Array; gridIndex: Int32Array; n: number }[];
}

function prepare(samples: readonly WeightedSample[]): Prepared {
  const grid = pool(samples).values;
  const pos = new Map(grid.map((v, i) => [v, i]));
  const reps = samples
    .filter((s) => total(s) > 0)
    .map((s) => ({
      counts: Float64Array.from(s.counts),
      gridIndex: Int32Array.from(s.values.map((v) => pos.get(v)!)),
      n: total(s),
    }));
  return { grid, reps };
}

/** A Poisson(λ) draw: Knuth's product method for small λ, a rounded normal approximation for large λ. */
function poisson(lambda: number, rand: () => number): number {
  if (lambda < 30) {
    const l = Math.exp(-lambda);
    let k = 0;
    let p = rand();
    while (p > l) {
      k++;
      p *= rand();
    }
    return k;
  }
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
}

/**
 * One bootstrap replicate of several percentiles: resample repetitions with replacement, then observations
 * within each chosen repetition. Two levels, because requests within one repetition are not independent of
 * the machine's state during that repetition; resampling only requests would understate run-to-run variation.
 * The inner level is the Poisson bootstrap (each bin's count redrawn as Poisson(count)), which matches the
 * multinomial resample for large n and costs O(distinct values) instead of O(requests).
 */
function replicate(
  prep: Prepared,
  ps: readonly number[],
  rand: () => number,
  counts: Float64Array,
): number[] {
  counts.fill(0);
  const k = prep.reps.length;
  let n = 0;
  for (let r = 0; r < k; r++) {
    const rep = prep.reps[k === 1 ? 0 : Math.floor(rand() * k)]!;
    for (let i = 0; i < rep.counts.length; i++) {
      const c = poisson(rep.counts[i]!, rand);
      counts[rep.gridIndex[i]!]! += c;
      n += c;
    }
  }
  if (n === 0) return ps.map(() => prep.grid[0]!);
  return ps.map((p) => {
    const target = Math.max(1, Math.ceil((p / 100) * n - 1e-9));
    let cum = 0;
    for (let i = 0; i < counts.length; i++) {
      cum += counts[i]!;
      if (cum >= target) return prep.grid[i]!;
    }
    return prep.grid[prep.grid.length - 1]!;
  });
}

const NO_INTERVAL: Interval = { estimate: NaN, lo: NaN, hi: NaN };

/**
 * Bootstrap CIs of percentile(b) − percentile(a) for each p in ps, e.g. a mode's p50 and p99 minus `none`'s on
 * the same path. Each side is a list of repetitions; the estimate is the difference of the pooled percentiles.
 */
export function bootstrapPercentileDiffs(
  a: readonly WeightedSample[],
  b: readonly WeightedSample[],
  ps: readonly number[],
  opts: BootstrapOptions = {},
): Interval[] {
  const iterations = opts.iterations ?? 1000;
  const alpha = 1 - (opts.confidence ?? 0.95);
  const rand = prng(opts.seed ?? 0x5eed);
  const pa = prepare(a);
  const pb = prepare(b);
  if (!pa.reps.length || !pb.reps.length) return ps.map(() => NO_INTERVAL);
  const poolA = pool(a);
  const poolB = pool(b);
  const ca = new Float64Array(pa.grid.length);
  const cb = new Float64Array(pb.grid.length);
  const diffs: number[][] = ps.map(() => []);
  for (let i = 0; i < iterations; i++) {
    const xb = replicate(pb, ps, rand, cb);
    const xa = replicate(pa, ps, rand, ca);
    ps.forEach((_, j) => diffs[j]!.push(xb[j]! - xa[j]!));
  }
  return ps.map((p, j) => ({
    estimate: percentile(poolB, p) - percentile(poolA, p),
    lo: quantileOfNumbers(diffs[j]!, alpha / 2),
    hi: quantileOfNumbers(diffs[j]!, 1 - alpha / 2),
  }));
}

/**
 * Bootstrap CIs of the change in added latency between two runs, for each p in ps:
 * (P(curMode) − P(curNone)) − (P(baseMode) − P(baseNone)). Each of the four sides is resampled on both levels
 * (repetitions, then requests) independently, as bootstrapPercentileDiffs does for one pair. What this measures
 * is what an enforcer changed: a machine that got slower moves `none` and the mode together and cancels out.
 */
export function bootstrapAddedChange(
  sides: {
    baseNone: readonly WeightedSample[];
    baseMode: readonly WeightedSample[];
    curNone: readonly WeightedSample[];
    curMode: readonly WeightedSample[];
  },
  ps: readonly number[],
  opts: BootstrapOptions = {},
): Interval[] {
  const iterations = opts.iterations ?? 1000;
  const alpha = 1 - (opts.confidence ?? 0.95);
  const rand = prng(opts.seed ?? 0x5eed);
  const order = [sides.baseNone, sides.baseMode, sides.curNone, sides.curMode];
  const preps = order.map(prepare);
  if (preps.some((p) => !p.reps.length)) return ps.map(() => NO_INTERVAL);
  const bufs = preps.map((p) => new Float64Array(p.grid.length));
  const pooled = order.map(pool);
  const diffs: number[][] = ps.map(() => []);
  for (let i = 0; i < iterations; i++) {
    const [bn, bm, cn, cm] = preps.map((p, k) => replicate(p, ps, rand, bufs[k]!));
    ps.forEach((_, j) => diffs[j]!.push(cm![j]! - cn![j]! - (bm![j]! - bn![j]!)));
  }
  return ps.map((p, j) => {
    const [bn, bm, cn, cm] = pooled.map((s) => percentile(s, p));
    return {
      estimate: cm! - cn! - (bm! - bn!),
      lo: quantileOfNumbers(diffs[j]!, alpha / 2),
      hi: quantileOfNumbers(diffs[j]!, 1 - alpha / 2),
    };
  });
}

export function bootstrapPercentileDiff(
  a: readonly WeightedSample[],
  b: readonly WeightedSample[],
  p: number,
  opts: BootstrapOptions = {},
): Interval {
  return bootstrapPercentileDiffs(a, b, [p], opts)[0]!;
}

/** Bootstrap CI of a percentile of one side (its repetitions pooled). */
export function bootstrapPercentile(
  samples: readonly WeightedSample[],
  p: number,
  opts: BootstrapOptions = {},
): Interval {
  const iterations = opts.iterations ?? 1000;
  const alpha = 1 - (opts.confidence ?? 0.95);
  const rand = prng(opts.seed ?? 0x5eed);
  const prep = prepare(samples);
  if (!prep.reps.length) return NO_INTERVAL;
  const c = new Float64Array(prep.grid.length);
  const xs: number[] = [];
  for (let i = 0; i < iterations; i++) xs.push(replicate(prep, [p], rand, c)[0]!);
  return {
    estimate: percentile(pool(samples), p),
    lo: quantileOfNumbers(xs, alpha / 2),
    hi: quantileOfNumbers(xs, 1 - alpha / 2),
  };
}

/** Median across repetitions (e.g. per-repetition throughput) with a bootstrap CI over the repetitions. */
export function medianWithCI(xs: readonly number[], opts: BootstrapOptions = {}): Interval {
  if (xs.length === 0) return { estimate: NaN, lo: NaN, hi: NaN };
  const iterations = opts.iterations ?? 2000;
  const alpha = 1 - (opts.confidence ?? 0.95);
  const rand = prng(opts.seed ?? 0x5eed);
  const meds: number[] = [];
  const buf = new Array<number>(xs.length);
  for (let i = 0; i < iterations; i++) {
    for (let j = 0; j < xs.length; j++) buf[j] = xs[Math.floor(rand() * xs.length)]!;
    meds.push(quantileOfNumbers(buf, 0.5));
  }
  return {
    estimate: quantileOfNumbers(xs, 0.5),
    lo: quantileOfNumbers(meds, alpha / 2),
    hi: quantileOfNumbers(meds, 1 - alpha / 2),
  };
}

export interface MannWhitney {
  /** U of B: pairs with B > A plus half the ties. */
  u: number;
  z: number;
  /** Two-sided p-value from the normal approximation with tie correction and continuity correction. */
  p: number;
  /** P(B > A) + ½·P(B = A): 0.5 means no shift. */
  effect: number;
}

/** Mann–Whitney U test between two samples (do two runs differ?). */
export function mannWhitney(a: WeightedSample, b: WeightedSample): MannWhitney {
  const n1 = total(a);
  const n2 = total(b);
  const n = n1 + n2;
  if (n1 === 0 || n2 === 0) return { u: NaN, z: NaN, p: NaN, effect: NaN };
  let i = 0;
  let j = 0;
  let below = 0;
  let rankSumA = 0;
  let tieTerm = 0;
  while (i < a.values.length || j < b.values.length) {
    const va = i < a.values.length ? a.values[i]! : Infinity;
    const vb = j < b.values.length ? b.values[j]! : Infinity;
    const v = Math.min(va, vb);
    const ca = va === v ? a.counts[i++]! : 0;
    const cb = vb === v ? b.counts[j++]! : 0;
    const t = ca + cb;
    rankSumA += ca * (below + (t + 1) / 2);
    tieTerm += t * t * t - t;
    below += t;
  }
  const uA = rankSumA - (n1 * (n1 + 1)) / 2;
  const meanU = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  // Stated for B relative to A: positive z means B tends to be larger.
  const uB = n1 * n2 - uA;
  const diff = uB - meanU;
  const z = variance > 0 ? (Math.sign(diff) * Math.max(0, Math.abs(diff) - 0.5)) / Math.sqrt(variance) : 0;
  const p = variance > 0 ? Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) : 1;
  return { u: uB, z, p, effect: uB / (n1 * n2) };
}

/** Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}
