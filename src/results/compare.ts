// Regression comparison of two runs (pure, no I/O). What an enforcement regression is: the latency a mode adds
// over `none` on the same path *in the same run* grew (or its throughput relative to `none` fell). Comparing
// absolute figures would read a slower machine — which moves `none` and every mode together — as a regression
// of every enforcer; the difference of differences cancels it. Absolute figures stay in each row as context.
//
// A row regresses when the two-level bootstrap 95% CI of the change lies entirely above 0 AND the change
// exceeds the threshold (a fraction of the baseline mode's absolute figure, so "10%" means the end-to-end
// latency a user sees grew by a tenth because of the enforcer). Environments are compared first
// (env-diff.ts): a must-match difference means the runs measure different things, so there is no verdict
// unless the caller allows it, and then every row carries the caveat.
import { bootstrapAddedChange, percentile, pool, prng, quantileOfNumbers, type Interval } from '../measure/stats.ts';
import { modeRank, samplesOf } from '../report/analyze.ts';
import { diffEnv, type EnvDiff } from './env-diff.ts';
import type { ResultRecord, RunResults } from './schema.ts';

export type Metric = 'p50' | 'p99' | 'throughput';
export type Verdict = 'regressed' | 'improved' | 'same';

/** One run's figures for a row: latency in µs (added = mode − none), throughput in Gbit/s (added = mode/none). */
export interface Side {
  mode: number;
  none: number;
  added: number;
}

export interface CompareRow {
  scenario: string;
  measurement: string;
  path: string;
  kind: string;
  mode: string;
  metric: Metric;
  /** Unit of `change` and `limit`: µs of added latency, or the throughput ratio to `none`. */
  unit: 'µs' | 'ratio';
  baseline: Side;
  current: Side;
  /** current.added − baseline.added with its 95% CI. */
  change: Interval;
  /** How large the change must be (in `unit`) to count, besides its CI excluding 0. */
  limit: number;
  verdict: Verdict;
  /** Whether this row's verdict decides the exit status (CompareOptions.gate); other rows are context. */
  gated: boolean;
  /** Set on every row when the environments differ in a must-match field and the caller allowed it. */
  caveat?: string;
}

export type CompareStatus = 'regressed' | 'ok' | 'env-mismatch' | 'nothing';

export interface Comparison {
  status: CompareStatus;
  baselineRunId: string;
  currentRunId: string;
  threshold: number;
  /** Metrics whose regression fails the comparison. */
  gate: Metric[];
  rows: CompareRow[];
  /** Environment differences: must-match ones block the comparison unless allowed; notes are context. */
  env: { mustMatch: EnvDiff[]; notes: EnvDiff[] };
  /** Cells measured in only one run, or without `none` to compare against. */
  warnings: string[];
}

export interface CompareOptions {
  /** Fraction of the baseline mode's figure a change must exceed, e.g. 0.10. */
  threshold?: number;
  /** Compare even when a must-match environment field differs (every row then carries a caveat). */
  allowEnvDiff?: boolean;
  /** Metrics whose regression fails the comparison (default DEFAULT_GATE); the others are reported only. */
  gate?: readonly Metric[];
  iterations?: number;
  seed?: number;
}

export const DEFAULT_THRESHOLD = 0.1;
/**
 * Only p50 fails a comparison by default; p99 and throughput are reported with their verdicts. Why, at the quick
 * suite's size on a shared 2-vCPU machine (A/A experiment, bench/compare-aa.ts, README "Regression checks"):
 * p99 of 3 × 1,000 requests is about the 30th-largest of 3,000 latencies, and a burst of load from another
 * process moves it by milliseconds; throughput has 3 one-second iperf3 repetitions per mode, so even between
 * identical runs all three of one run fall below all three of the other 1 time in 20 per row, and the ratio to
 * `none` swings by tens of percent with load. Gate on them (--gate p50,p99,throughput) with more repetitions.
 */
export const DEFAULT_GATE: readonly Metric[] = ['p50'];
export const METRICS: readonly Metric[] = ['p50', 'p99', 'throughput'];
const BASE_MODE = 'none';

/** Exit code of `testbed compare` for a comparison: 0 no regression, 1 a regression, 2 cannot compare. */
export function exitCodeOf(status: CompareStatus): 0 | 1 | 2 {
  return status === 'ok' ? 0 : status === 'regressed' ? 1 : 2;
}

type RowId = Pick<CompareRow, 'scenario' | 'measurement' | 'path' | 'kind' | 'mode'>;
type Judged = Omit<CompareRow, 'gated'>;

function statusOf(rows: readonly CompareRow[]): CompareStatus {
  return !rows.length ? 'nothing' : rows.some((r) => r.gated && r.verdict === 'regressed') ? 'regressed' : 'ok';
}

type Groups = Map<string, Map<string, ResultRecord[]>>;

/** Matrix records (sweeps left out) by scenario/measurement, then by mode. */
function groups(run: RunResults): Groups {
  const m: Groups = new Map();
  for (const r of run.records) {
    if (r.policies !== undefined || r.pods !== undefined) continue;
    const k = JSON.stringify([r.scenario, r.measurement]);
    const byMode = m.get(k) ?? new Map<string, ResultRecord[]>();
    byMode.set(r.mode, [...(byMode.get(r.mode) ?? []), r]);
    m.set(k, byMode);
  }
  return m;
}

function verdictOf(change: Interval, limit: number, worseIsUp: boolean): Verdict {
  if (!Number.isFinite(change.lo) || !Number.isFinite(change.hi)) return 'same';
  const worse = worseIsUp ? change.lo > 0 && change.estimate > limit : change.hi < 0 && -change.estimate > limit;
  const better = worseIsUp ? change.hi < 0 && -change.estimate > limit : change.lo > 0 && change.estimate > limit;
  return worse ? 'regressed' : better ? 'improved' : 'same';
}

function latencyRows(
  id: RowId,
  b: { none: ResultRecord[]; mode: ResultRecord[] },
  c: { none: ResultRecord[]; mode: ResultRecord[] },
  threshold: number,
  opts: CompareOptions,
): Judged[] {
  const sides = {
    baseNone: samplesOf(b.none),
    baseMode: samplesOf(b.mode),
    curNone: samplesOf(c.none),
    curMode: samplesOf(c.mode),
  };
  if (Object.values(sides).some((s) => s.length === 0)) return [];
  const cis = bootstrapAddedChange(sides, [50, 99], { iterations: opts.iterations ?? 1000, seed: opts.seed });
  const at = (s: typeof sides.baseNone, q: number) => percentile(pool(s), q);
  return (['p50', 'p99'] as const).map((metric, i) => {
    const q = metric === 'p50' ? 50 : 99;
    const side = (none: typeof sides.baseNone, mode: typeof sides.baseNone): Side => {
      const [n, m] = [at(none, q), at(mode, q)];
      return { mode: m, none: n, added: m - n };
    };
    const baseline = side(sides.baseNone, sides.baseMode);
    const limit = threshold * baseline.mode;
    const change = cis[i]!;
    return {
      ...id,
      metric,
      unit: 'µs' as const,
      baseline,
      current: side(sides.curNone, sides.curMode),
      change,
      limit,
      verdict: verdictOf(change, limit, true),
    };
  });
}

/** Per-repetition throughput ratio mode/none, pairing repetitions by index (modes run interleaved). */
function ratios(none: ResultRecord[], mode: ResultRecord[]): { ratios: number[]; none: number[]; mode: number[] } {
  const gbps = (rs: ResultRecord[]) =>
    new Map(
      rs.filter((r) => (r.throughput?.bitsPerSecond ?? 0) > 0).map((r) => [r.repetition, r.throughput!.bitsPerSecond / 1e9]),
    );
  const n = gbps(none);
  const m = gbps(mode);
  const reps = [...m.keys()].filter((r) => n.has(r)).sort((x, y) => x - y);
  return { ratios: reps.map((r) => m.get(r)! / n.get(r)!), none: [...n.values()], mode: [...m.values()] };
}

/** Bootstrap CI of median(cur) − median(base), resampling each side's repetitions. */
function medianDiffCI(base: number[], cur: number[], opts: CompareOptions): Interval {
  const rand = prng(opts.seed ?? 0x5eed);
  const draws: number[] = [];
  const resample = (xs: number[]) => xs.map(() => xs[Math.floor(rand() * xs.length)]!);
  for (let i = 0; i < (opts.iterations ?? 1000); i++)
    draws.push(quantileOfNumbers(resample(cur), 0.5) - quantileOfNumbers(resample(base), 0.5));
  return {
    estimate: quantileOfNumbers(cur, 0.5) - quantileOfNumbers(base, 0.5),
    lo: quantileOfNumbers(draws, 0.025),
    hi: quantileOfNumbers(draws, 0.975),
  };
}

function throughputRow(
  id: RowId,
  b: { none: ResultRecord[]; mode: ResultRecord[] },
  c: { none: ResultRecord[]; mode: ResultRecord[] },
  threshold: number,
  opts: CompareOptions,
): Judged | null {
  const rb = ratios(b.none, b.mode);
  const rc = ratios(c.none, c.mode);
  if (!rb.ratios.length || !rc.ratios.length) return null;
  const side = (r: typeof rb): Side => ({
    mode: quantileOfNumbers(r.mode, 0.5),
    none: quantileOfNumbers(r.none, 0.5),
    added: quantileOfNumbers(r.ratios, 0.5),
  });
  const baseline = side(rb);
  const change = medianDiffCI(rb.ratios, rc.ratios, opts);
  const limit = threshold * baseline.added;
  return { ...id, metric: 'throughput', unit: 'ratio', baseline, current: side(rc), change, limit, verdict: verdictOf(change, limit, false) };
}

/**
 * Load average is a note, not a must-match field (it is taken once, at the start), but a large difference on a
 * busy machine is worth a warning: a user-space mode's added latency grows with load (its processes compete for
 * the CPUs; `none` has none), so on this 2-vCPU machine a baseline at load 15 against a run at load 45 flagged
 * the unchanged overlay (README, "Regression checks").
 */
function loadWarning(baseline: RunResults, current: RunResults): string | undefined {
  const b = baseline.env.loadAverage?.[0];
  const c = current.env.loadAverage?.[0];
  const cores = Math.max(baseline.env.cores, current.env.cores);
  if (b === undefined || c === undefined || Math.max(b, c) <= cores || Math.max(b, c) < 2 * Math.min(b, c)) return undefined;
  return (
    `load average at the start differs: ${b.toFixed(1)} → ${c.toFixed(1)} on ${cores} cores; the added latency of ` +
    'user-space modes grows with load, so re-run on a quieter machine before trusting a verdict on them'
  );
}

/** The same comparison judged at another threshold (the CIs do not depend on it; bench/compare-aa.ts). */
export function rethreshold(c: Comparison, threshold: number): Comparison {
  if (!c.rows.length) return { ...c, threshold };
  const rows = c.rows.map((r) => {
    const limit = threshold * (r.unit === 'µs' ? r.baseline.mode : r.baseline.added);
    return { ...r, limit, verdict: verdictOf(r.change, limit, r.unit === 'µs') };
  });
  return { ...c, threshold, rows, status: statusOf(rows) };
}

export function compareRuns(baseline: RunResults, current: RunResults, opts: CompareOptions = {}): Comparison {
  const threshold = opts.threshold ?? DEFAULT_THRESHOLD;
  const b = groups(baseline);
  const c = groups(current);
  const warnings: string[] = [];
  const pairs: { key: string; bm: Map<string, ResultRecord[]>; cm: Map<string, ResultRecord[]> }[] = [];
  const label = (k: string) => (JSON.parse(k) as string[]).join(' / ');
  for (const k of b.keys()) if (!c.has(k)) warnings.push(`only in baseline: ${label(k)}`);
  for (const [k, cm] of c) {
    const bm = b.get(k);
    if (!bm) {
      warnings.push(`only in current run: ${label(k)}`);
      continue;
    }
    if (!bm.has(BASE_MODE) || !cm.has(BASE_MODE)) {
      warnings.push(`${label(k)}: no \`${BASE_MODE}\` in ${bm.has(BASE_MODE) ? 'the current run' : 'the baseline'}, nothing to add to`);
      continue;
    }
    for (const m of bm.keys()) if (!cm.has(m)) warnings.push(`only in baseline: ${label(k)} / ${m}`);
    for (const m of cm.keys()) if (!bm.has(m)) warnings.push(`only in current run: ${label(k)} / ${m}`);
    pairs.push({ key: k, bm, cm });
  }
  const compared = new Set(pairs.map((p) => (JSON.parse(p.key) as string[])[0]!));
  const load = loadWarning(baseline, current);
  if (load) warnings.push(load);
  const diffs = diffEnv(baseline.env, current.env, compared);
  const env = { mustMatch: diffs.filter((d) => d.class === 'must-match'), notes: diffs.filter((d) => d.class === 'note') };
  const gate = [...(opts.gate ?? DEFAULT_GATE)];
  const base = { baselineRunId: baseline.runId, currentRunId: current.runId, threshold, gate, env, warnings };
  // Nothing measured in both runs is the more basic failure: say that, not which fields differ.
  if (!pairs.length) return { ...base, status: 'nothing', rows: [] };
  if (env.mustMatch.length && !opts.allowEnvDiff) return { ...base, status: 'env-mismatch', rows: [] };
  // Short on purpose (it is repeated on every row); the values are listed once with the environment.
  const caveat = env.mustMatch.length
    ? `environment differs in ${env.mustMatch.map((d) => d.key).join(', ')}`
    : undefined;

  const judged: Judged[] = [];
  for (const { bm, cm } of pairs) {
    for (const [mode, cur] of cm) {
      const bas = bm.get(mode);
      if (mode === BASE_MODE || !bas) continue;
      const first = cur[0]!;
      const id = { scenario: first.scenario, measurement: first.measurement, path: first.path, kind: first.kind, mode };
      const bSides = { none: bm.get(BASE_MODE)!, mode: bas };
      const cSides = { none: cm.get(BASE_MODE)!, mode: cur };
      judged.push(...latencyRows(id, bSides, cSides, threshold, opts));
      const t = throughputRow(id, bSides, cSides, threshold, opts);
      if (t) judged.push(t);
    }
  }
  const rows: CompareRow[] = judged.map((r) => ({ ...r, gated: gate.includes(r.metric), ...(caveat ? { caveat } : {}) }));
  rows.sort(
    (x, y) =>
      x.scenario.localeCompare(y.scenario) ||
      x.measurement.localeCompare(y.measurement) ||
      modeRank(x.mode) - modeRank(y.mode) ||
      x.mode.localeCompare(y.mode) ||
      x.metric.localeCompare(y.metric),
  );
  return { ...base, status: statusOf(rows), rows };
}

/** Parses "10%", "10" (percent) or "0.1". */
export function parseThreshold(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(s.trim());
  if (!m) return null;
  const v = Number(m[1]);
  return m[2] === '%' || v >= 1 ? v / 100 : v;
}
