// Pure derivation of every figure a report shows from a run's stored records: per-mode latency percentiles,
// added latency vs `none` on the same path with bootstrap CIs, throughput medians, sweep curves and CDF
// points. Charts, tables and the paper table all read this one structure, so they cannot disagree.
import { decodeHistogram, toWeightedSample } from '../measure/histogram.ts';
import {
  bootstrapPercentileDiffs,
  mannWhitney,
  medianWithCI,
  percentile,
  pool,
  mean as sampleMean,
  total,
  type Interval,
  type WeightedSample,
} from '../measure/stats.ts';
import type { ResultRecord, RunResults } from '../results/schema.ts';

export interface LatencyRow {
  scenario: string;
  measurement: string;
  kind: string;
  path: string;
  mode: string;
  repetitions: number;
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
  /** The tool's own figures when it reports them (sockperf). */
  tool?: Record<string, number>;
}

export interface AddedRow {
  scenario: string;
  measurement: string;
  kind: string;
  path: string;
  mode: string;
  p50: Interval;
  p99: Interval;
  /** Mann–Whitney two-sided p-value, pooled samples mode vs none. */
  pValue: number;
}

/** What the mesh adds: a `<mode>+l7` cell against `<mode>` on the same path and workload (p50/p90/p99). */
export interface L7AddedRow extends AddedRow {
  /** The L3 mode the row is measured against (`none`, `native`, `overlay`). */
  base: string;
  p90: Interval;
}

export interface ThroughputRow {
  scenario: string;
  measurement: string;
  path: string;
  mode: string;
  repetitions: number;
  gbps: Interval;
  retransmits: number;
}

export interface SweepRow {
  scenario: string;
  mode: string;
  policies: number;
  /** Workload the sweep measured (absent for programming-only points). */
  kind?: string;
  p50Us?: number;
  p99Us?: number;
  programmingMs?: number;
}

/** A point of the pod-count sweep: like SweepRow, x = pods in force (policies stay the scenario's own). */
export interface PodSweepRow extends Omit<SweepRow, 'policies'> {
  pods: number;
}

export interface CdfPoint {
  path: string;
  kind: string;
  measurement: string;
  mode: string;
  latencyUs: number;
  fraction: number;
}

export interface Analysis {
  latency: LatencyRow[];
  added: AddedRow[];
  /** Overlay minus native on the same path (the paper's "competitive with native" claim). */
  overlayVsNative: AddedRow[];
  /** `<mode>+l7` minus `<mode>` on the same path (the mesh layer's own cost). */
  l7Added: L7AddedRow[];
  throughput: ThroughputRow[];
  sweep: SweepRow[];
  podSweep: PodSweepRow[];
  cdf: CdfPoint[];
}

export interface AnalyzeOptions {
  iterations?: number;
  seed?: number;
  /** CDF points per series (the curve is downsampled, the tail is always kept). */
  cdfPoints?: number;
}

const MODE_ORDER = ['none', 'none+l7', 'native', 'native+l7', 'overlay', 'overlay+l7', 'overlay-ebpf'];
export function modeRank(m: string): number {
  const i = MODE_ORDER.indexOf(m);
  return i < 0 ? MODE_ORDER.length : i;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Repetitions of one record group as weighted samples (one per repetition). */
export function samplesOf(records: readonly ResultRecord[]): WeightedSample[] {
  return records.filter((r) => r.latency).map((r) => toWeightedSample(decodeHistogram(r.latency!.histogram)));
}

function cdfOf(s: WeightedSample, points: number): { latencyUs: number; fraction: number }[] {
  const n = total(s);
  const out: { latencyUs: number; fraction: number }[] = [];
  let cum = 0;
  let lastV = -Infinity;
  let lastF = -Infinity;
  // The curve is drawn on a log x axis: keep a point when latency grew by 4% or the fraction by 1/points since
  // the last kept one, so the tail keeps its shape with a bounded number of points.
  s.values.forEach((v, i) => {
    cum += s.counts[i]!;
    const f = cum / n;
    if (v >= lastV * 1.04 || f - lastF >= 1 / points || i === s.values.length - 1) {
      out.push({ latencyUs: v, fraction: f });
      lastV = v;
      lastF = f;
    }
  });
  return out;
}

export function analyze(run: RunResults, opts: AnalyzeOptions = {}): Analysis {
  const iterations = opts.iterations ?? 500;
  const seed = opts.seed ?? 0x5eed;
  const matrix = run.records.filter((r) => r.policies === undefined);
  const latencyRecords = matrix.filter((r) => r.latency);
  const byGroup = groupBy(latencyRecords, (r) => JSON.stringify([r.scenario, r.measurement, r.mode]));

  const latency: LatencyRow[] = [];
  const cdf: CdfPoint[] = [];
  const samples = new Map<string, WeightedSample[]>();
  for (const [key, recs] of byGroup) {
    const first = recs[0]!;
    const reps = samplesOf(recs);
    samples.set(key, reps);
    const pooled = pool(reps);
    const tools = recs.map((r) => r.latency!.tool).filter((t): t is Record<string, number> => !!t);
    latency.push({
      scenario: first.scenario,
      measurement: first.measurement,
      kind: first.kind,
      path: first.path,
      mode: first.mode,
      repetitions: recs.length,
      count: total(pooled),
      p50Us: percentile(pooled, 50),
      p90Us: percentile(pooled, 90),
      p99Us: percentile(pooled, 99),
      p999Us: percentile(pooled, 99.9),
      maxUs: percentile(pooled, 100),
      meanUs: sampleMean(pooled),
      ...(tools.length ? { tool: medianOfRecords(tools) } : {}),
    });
    for (const p of cdfOf(pooled, opts.cdfPoints ?? 100))
      cdf.push({
        path: first.path,
        kind: first.kind,
        measurement: first.measurement,
        mode: first.mode,
        ...p,
      });
  }
  latency.sort(
    (a, b) =>
      a.scenario.localeCompare(b.scenario) ||
      a.measurement.localeCompare(b.measurement) ||
      modeRank(a.mode) - modeRank(b.mode),
  );

  const versus = (row: LatencyRow, baseMode: string): AddedRow | null => {
    const base = samples.get(JSON.stringify([row.scenario, row.measurement, baseMode]));
    if (!base) return null;
    const mine = samples.get(JSON.stringify([row.scenario, row.measurement, row.mode]))!;
    const [p50, p99] = bootstrapPercentileDiffs(base, mine, [50, 99], { iterations, seed });
    return {
      scenario: row.scenario,
      measurement: row.measurement,
      kind: row.kind,
      path: row.path,
      mode: row.mode,
      p50: p50!,
      p99: p99!,
      pValue: mannWhitney(pool(base), pool(mine)).p,
    };
  };
  const added = latency
    .filter((r) => r.mode !== 'none')
    .map((r) => versus(r, 'none'))
    .filter((r): r is AddedRow => r !== null);
  const overlayVsNative = latency
    .filter((r) => r.mode === 'overlay' || r.mode === 'overlay-ebpf')
    .map((r) => versus(r, 'native'))
    .filter((r): r is AddedRow => r !== null);

  const l7Added: L7AddedRow[] = [];
  for (const row of latency.filter((r) => r.mode.endsWith('+l7'))) {
    const baseMode = row.mode.slice(0, -3);
    const base = samples.get(JSON.stringify([row.scenario, row.measurement, baseMode]));
    if (!base) continue;
    const mine = samples.get(JSON.stringify([row.scenario, row.measurement, row.mode]))!;
    const [p50, p90, p99] = bootstrapPercentileDiffs(base, mine, [50, 90, 99], { iterations, seed });
    l7Added.push({
      scenario: row.scenario,
      measurement: row.measurement,
      kind: row.kind,
      path: row.path,
      mode: row.mode,
      base: baseMode,
      p50: p50!,
      p90: p90!,
      p99: p99!,
      pValue: mannWhitney(pool(base), pool(mine)).p,
    });
  }

  const throughput: ThroughputRow[] = [];
  for (const recs of groupBy(
    matrix.filter((r) => r.throughput && r.kind === 'iperf3'),
    (r) => JSON.stringify([r.scenario, r.measurement, r.mode]),
  ).values()) {
    const first = recs[0]!;
    throughput.push({
      scenario: first.scenario,
      measurement: first.measurement,
      path: first.path,
      mode: first.mode,
      repetitions: recs.length,
      gbps: medianWithCI(
        recs.map((r) => r.throughput!.bitsPerSecond / 1e9),
        { seed },
      ),
      retransmits: recs.reduce((s, r) => s + (r.throughput!.retransmits ?? 0), 0),
    });
  }
  throughput.sort(
    (a, b) => a.measurement.localeCompare(b.measurement) || modeRank(a.mode) - modeRank(b.mode),
  );

  const byModeThenX = (a: { mode: string; x: number }, b: { mode: string; x: number }) =>
    modeRank(a.mode) - modeRank(b.mode) || a.x - b.x;
  const sweep = sweepRows(run, 'policies')
    .sort(byModeThenX)
    .map(({ x, ...r }) => ({ ...r, policies: x }));
  const podSweep = sweepRows(run, 'pods')
    .sort(byModeThenX)
    .map(({ x, ...r }) => ({ ...r, pods: x }));

  return { latency, added, overlayVsNative, l7Added, throughput, sweep, podSweep, cdf };
}

/**
 * The points of one sweep, keyed by scenario, mode and x (policies in force, or pods in force for the pod
 * sweep, whose entries alone carry `pods`): latency pooled over the point's records, median programming time.
 */
function sweepRows(
  run: RunResults,
  axis: 'policies' | 'pods',
): (Omit<SweepRow, 'policies'> & { x: number })[] {
  const mine = (r: { pods?: number }) => (r.pods !== undefined) === (axis === 'pods');
  const xOf = (r: { policies?: number; pods?: number }) => r[axis]!;
  const rows = new Map<string, Omit<SweepRow, 'policies'> & { x: number }>();
  const row = (scenario: string, mode: string, x: number) => {
    const k = JSON.stringify([scenario, mode, x]);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { scenario, mode, x }));
    return r;
  };
  for (const recs of groupBy(
    run.records.filter((r) => r.policies !== undefined && r.latency && mine(r)),
    (r) => JSON.stringify([r.scenario, r.mode, xOf(r)]),
  ).values()) {
    const pooled = pool(samplesOf(recs));
    const r = row(recs[0]!.scenario, recs[0]!.mode, xOf(recs[0]!));
    r.kind = recs[0]!.kind;
    r.p50Us = percentile(pooled, 50);
    r.p99Us = percentile(pooled, 99);
  }
  for (const recs of groupBy(run.programming.filter(mine), (p) =>
    JSON.stringify([p.scenario, p.mode, xOf(p)]),
  ).values())
    row(recs[0]!.scenario, recs[0]!.mode, xOf(recs[0]!)).programmingMs = medianWithCI(
      recs.map((p) => p.programmingMs),
    ).estimate;
  return [...rows.values()];
}

function medianOfRecords(xs: Record<string, number>[]): Record<string, number> {
  const keys = new Set(xs.flatMap((x) => Object.keys(x)));
  const out: Record<string, number> = {};
  for (const k of keys) {
    const v = xs
      .map((x) => x[k])
      .filter((n): n is number => typeof n === 'number')
      .sort((a, b) => a - b);
    out[k] = v[Math.floor((v.length - 1) / 2)]!;
  }
  return out;
}
