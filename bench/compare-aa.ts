// A/A experiment for `testbed compare` (issue 13): N back-to-back `testbed main --quick` runs of the same commit
// on this machine, every ordered pair (earlier as baseline) compared as CI would. Nothing changed between the
// runs, so every pair flagged as regressed is a false regression. Prints the false-regression rate at the
// default and neighbouring thresholds, which rows tripped, and the CI half-width of each cell's added-p50
// change (a change smaller than that cannot be told from noise at the quick suite's size). Root.
//   sudo npx tsx bench/compare-aa.ts [--runs 5] [--dir /tmp/compare-aa] [--no-run] [--threshold 10%]
// Runs accumulate in --dir: a second invocation adds runs, --no-run only compares what is there.
import { mkdirSync } from 'node:fs';
import {
  compareRuns,
  DEFAULT_GATE,
  DEFAULT_THRESHOLD,
  METRICS,
  parseThreshold,
  rethreshold,
  type Comparison,
} from '../src/results/compare.ts';
import { args, finishedRuns, load, median, recordedLoads, regressedRows, runQuick } from './compare-lib.ts';

const a = args(process.argv.slice(2));
const N = Number(a.opt('runs', '5'));
const DIR = a.opt('dir', '/tmp/compare-aa');
const THRESHOLD = parseThreshold(a.opt('threshold', `${DEFAULT_THRESHOLD * 100}%`)) ?? DEFAULT_THRESHOLD;
const log = (l: string) => process.stderr.write(`${l}\n`);

mkdirSync(DIR, { recursive: true });
if (!a.has('no-run'))
  for (let i = 0; i < N; i++) {
    log(`A/A run ${i + 1}/${N} (load ${load()})`);
    await runQuick(DIR, {}, log);
  }

const runs = finishedRuns(DIR);
if (runs.length < 2) {
  console.error(`need at least 2 finished runs in ${DIR}, found ${runs.length}`);
  process.exit(2);
}
const pairs: { i: number; j: number; c: Comparison }[] = [];
for (let i = 0; i < runs.length; i++)
  for (let j = i + 1; j < runs.length; j++)
    pairs.push({ i, j, c: compareRuns(runs[i]!.run, runs[j]!.run, { threshold: THRESHOLD }) });

console.log(
  `A/A: ${runs.length} quick runs in ${DIR} (commit ${runs[0]!.run.env.commit?.slice(0, 12)}), ${pairs.length} ordered pairs`,
);
console.log(`load average (1/5/15) at each run's start: ${recordedLoads(runs)}; now ${load()}`);
const blocked = pairs.filter((p) => p.c.status === 'env-mismatch' || p.c.status === 'nothing');
for (const p of blocked)
  console.log(`pair ${p.i}→${p.j}: ${p.c.status}: ${p.c.env.mustMatch.map((d) => d.key).join(', ')}`);
const judged = pairs.filter((p) => !blocked.includes(p));
// The same pairs judged with other gates, to show what the default gate protects against.
const gated =
  (gate: readonly string[]) =>
  (c: Comparison): Comparison => ({
    ...c,
    gate: METRICS.filter((m) => gate.includes(m)),
    rows: c.rows.map((r) => ({ ...r, gated: gate.includes(r.metric) })),
  });
for (const gate of [DEFAULT_GATE, ['p50', 'throughput'], METRICS]) {
  console.log(`\ngate ${gate.join(', ')}${gate === DEFAULT_GATE ? ' (default)' : ''}:`);
  for (const t of [...new Set([0.05, THRESHOLD, 0.2])].sort()) {
    const at = judged.map((p) => ({ ...p, c: rethreshold(gated(gate)(p.c), t) }));
    const flagged = at.filter((p) => p.c.status === 'regressed');
    const rows = at.flatMap((p) => p.c.rows.filter((r) => r.gated));
    const bad = rows.filter((r) => r.verdict === 'regressed');
    console.log(
      `  threshold ${(t * 100).toFixed(0)}%: false-regression rate ${flagged.length}/${at.length} pairs ` +
        `(${((100 * flagged.length) / Math.max(1, at.length)).toFixed(1)}%), gated rows ${bad.length}/${rows.length}` +
        `${t === THRESHOLD ? ' (default threshold)' : ''}`,
    );
    if (t === THRESHOLD)
      for (const p of flagged) console.log(`    pair ${p.i}→${p.j}: ${regressedRows(p.c).join('; ')}`);
  }
}

// Per cell: the median CI half-width of the added-p50 change and the threshold's limit; a change must beat both.
const cells = new Map<string, { hw: number[]; limit: number[]; est: number[] }>();
for (const p of judged)
  for (const r of p.c.rows.filter((x) => x.metric === 'p50')) {
    const k = `${r.path} ${r.kind} ${r.mode}`;
    const e = cells.get(k) ?? { hw: [], limit: [], est: [] };
    e.hw.push((r.change.hi - r.change.lo) / 2);
    e.limit.push(r.limit);
    e.est.push(Math.abs(r.change.estimate));
    cells.set(k, e);
  }
console.log(
  '\nadded-p50 change between A/A runs, per cell (median over pairs): |estimate|, 95% CI half-width, limit',
);
for (const [k, e] of [...cells].sort())
  console.log(
    `  ${k.padEnd(34)} |Δ| ${median(e.est).toFixed(1).padStart(6)} µs   ±${median(e.hw).toFixed(1).padStart(6)} µs   limit ${median(e.limit).toFixed(1).padStart(6)} µs`,
  );
