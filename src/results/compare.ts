// Regression comparison of two runs (pure): per scenario, measurement (path × workload) and mode, the change of
// p50/p99 latency (bootstrap CI of the difference, Mann–Whitney p) and of median throughput. A metric regresses
// when it got worse by more than the threshold AND the change is significant (CI excludes 0, p < alpha).
import { bootstrapPercentileDiffs, mannWhitney, medianWithCI, percentile, pool, type Interval } from '../measure/stats.ts';
import { samplesOf } from '../report/analyze.ts';
import type { ResultRecord, RunResults } from './schema.ts';

export interface CompareRow {
  scenario: string;
  measurement: string;
  path: string;
  kind: string;
  mode: string;
  metric: 'p50' | 'p99' | 'throughput';
  unit: 'µs' | 'Gbit/s';
  baseline: number;
  current: number;
  /** current − baseline with a 95% CI. */
  change: Interval;
  /** Relative change in percent (positive = larger value). */
  changePct: number;
  significant: boolean;
  regressed: boolean;
}

export interface Comparison {
  rows: CompareRow[];
  /** Cells present in only one of the runs, and differences in environment worth knowing. */
  warnings: string[];
}

export interface CompareOptions {
  /** Relative threshold, e.g. 0.10 for 10%. */
  threshold?: number;
  alpha?: number;
  iterations?: number;
  seed?: number;
}

function key(r: ResultRecord): string {
  return JSON.stringify([r.scenario, r.measurement, r.mode]);
}

function groups(run: RunResults): Map<string, ResultRecord[]> {
  const m = new Map<string, ResultRecord[]>();
  for (const r of run.records) {
    if (r.policies !== undefined) continue;
    const k = key(r);
    m.set(k, [...(m.get(k) ?? []), r]);
  }
  return m;
}

export function compareRuns(baseline: RunResults, current: RunResults, opts: CompareOptions = {}): Comparison {
  const threshold = opts.threshold ?? 0.1;
  const alpha = opts.alpha ?? 0.05;
  const rows: CompareRow[] = [];
  const warnings: string[] = [];
  const b = groups(baseline);
  const c = groups(current);
  for (const k of b.keys()) if (!c.has(k)) warnings.push(`only in baseline: ${JSON.parse(k).join(' / ')}`);
  for (const k of c.keys()) if (!b.has(k)) warnings.push(`only in current run: ${JSON.parse(k).join(' / ')}`);
  for (const field of ['kernel', 'cpuModel', 'cores', 'node'] as const)
    if (baseline.env[field] !== current.env[field]) warnings.push(`environment differs: ${field} ${baseline.env[field]} → ${current.env[field]}`);

  for (const [k, cur] of c) {
    const base = b.get(k);
    if (!base) continue;
    const first = cur[0]!;
    const id = { scenario: first.scenario, measurement: first.measurement, path: first.path, kind: first.kind, mode: first.mode };
    const sb = samplesOf(base);
    const sc = samplesOf(cur);
    if (sb.length && sc.length) {
      const cis = bootstrapPercentileDiffs(sb, sc, [50, 99], { iterations: opts.iterations ?? 500, seed: opts.seed });
      const p = mannWhitney(pool(sb), pool(sc)).p;
      (['p50', 'p99'] as const).forEach((metric, i) => {
        const q = metric === 'p50' ? 50 : 99;
        const bv = percentile(pool(sb), q);
        const cv = percentile(pool(sc), q);
        const ci = cis[i]!;
        const changePct = bv > 0 ? ((cv - bv) / bv) * 100 : NaN;
        const significant = (ci.lo > 0 || ci.hi < 0) && p < alpha;
        // Latency regresses upwards.
        rows.push({ ...id, metric, unit: 'µs', baseline: bv, current: cv, change: ci, changePct, significant, regressed: significant && ci.lo > 0 && changePct > threshold * 100 });
      });
    }
    const tb = base.filter((r) => r.throughput && r.kind === 'iperf3').map((r) => r.throughput!.bitsPerSecond / 1e9);
    const tc = cur.filter((r) => r.throughput && r.kind === 'iperf3').map((r) => r.throughput!.bitsPerSecond / 1e9);
    if (tb.length && tc.length) {
      const mb = medianWithCI(tb, { seed: opts.seed });
      const mc = medianWithCI(tc, { seed: opts.seed });
      // With a handful of repetitions, non-overlapping median CIs is the honest test of "different".
      const significant = mc.hi < mb.lo || mc.lo > mb.hi;
      const changePct = mb.estimate > 0 ? ((mc.estimate - mb.estimate) / mb.estimate) * 100 : NaN;
      rows.push({
        ...id,
        metric: 'throughput',
        unit: 'Gbit/s',
        baseline: mb.estimate,
        current: mc.estimate,
        change: { estimate: mc.estimate - mb.estimate, lo: mc.lo - mb.hi, hi: mc.hi - mb.lo },
        changePct,
        significant,
        // Throughput regresses downwards.
        regressed: significant && mc.hi < mb.lo && -changePct > threshold * 100,
      });
    }
  }
  rows.sort((x, y) => x.measurement.localeCompare(y.measurement) || x.mode.localeCompare(y.mode) || x.metric.localeCompare(y.metric));
  return { rows, warnings };
}

/** Parses "10%", "10" (percent) or "0.1". */
export function parseThreshold(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(s.trim());
  if (!m) return null;
  const v = Number(m[1]);
  return m[2] === '%' || v >= 1 ? v / 100 : v;
}
