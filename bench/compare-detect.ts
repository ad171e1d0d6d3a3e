// True positives for `testbed compare` (issue 13): quick runs with an injected slowdown (a test knob,
// src/measure/test-knobs.ts), each compared against every clean run (e.g. the A/A runs of bench/compare-aa.ts)
// as the baseline. A pair counts as detected when compare exits 1 with a regressed gated row of the expected
// mode.
// The knob is removed from the injected run's recorded environment before comparing: a real regression does
// not announce itself, and with the knob recorded compare refuses the pair (exit 2), as it should. Root.
//   sudo npx tsx bench/compare-detect.ts --inject TB_SAP_DELAY_US=25 [--runs 3] [--clean /tmp/compare-aa]
//        [--dir /tmp/compare-detect/TB_SAP_DELAY_US-25] [--expect overlay] [--no-run] [--threshold 10%]
import { mkdirSync } from 'node:fs';
import { compareRuns, DEFAULT_THRESHOLD, parseThreshold } from '../src/results/compare.ts';
import { TEST_KNOBS } from '../src/measure/test-knobs.ts';
import { args, finishedRuns, load, median, recordedLoads, regressedRows, runQuick } from './compare-lib.ts';

const a = args(process.argv.slice(2));
const inject = a.opt('inject', '');
const m = /^([A-Z_]+)=(\d+(?:\.\d+)?)$/.exec(inject);
if (!m || !(m[1]! in TEST_KNOBS)) {
  console.error(`--inject KNOB=VALUE with KNOB one of ${Object.keys(TEST_KNOBS).join(', ')}`);
  process.exit(2);
}
const [knob, value] = [m[1]!, m[2]!];
const expect = a.opt('expect', knob === 'TB_SAP_DELAY_US' ? 'overlay' : 'native');
const N = Number(a.opt('runs', '3'));
const DIR = a.opt('dir', `/tmp/compare-detect/${knob}-${value}`);
const CLEAN = a.opt('clean', '/tmp/compare-aa');
const THRESHOLD = parseThreshold(a.opt('threshold', `${DEFAULT_THRESHOLD * 100}%`)) ?? DEFAULT_THRESHOLD;
const log = (l: string) => process.stderr.write(`${l}\n`);

mkdirSync(DIR, { recursive: true });
if (!a.has('no-run'))
  for (let i = 0; i < N; i++) {
    log(`${knob}=${value} run ${i + 1}/${N} (load ${load()})`);
    await runQuick(DIR, { [knob]: value }, log);
  }
const injected = finishedRuns(DIR);
const clean = finishedRuns(CLEAN);
if (!injected.length || !clean.length) {
  console.error(`need finished runs in ${DIR} (${injected.length}) and ${CLEAN} (${clean.length})`);
  process.exit(2);
}
let detected = 0;
let collateral = 0;
const cells = new Map<string, { est: number[]; flagged: number }>();
const lines: string[] = [];
for (const inj of injected) {
  if (inj.run.env.testKnobs?.[knob] !== value)
    throw new Error(`${inj.dir} was not run with ${knob}=${value}`);
  const cur = structuredClone(inj.run);
  delete cur.env.testKnobs;
  for (const base of clean) {
    const c = compareRuns(base.run, cur, { threshold: THRESHOLD });
    const flagged = c.rows.filter((r) => r.gated && r.verdict === 'regressed');
    const hit = c.status === 'regressed' && flagged.some((r) => r.mode === expect);
    if (hit) detected++;
    if (flagged.some((r) => r.mode !== expect)) collateral++;
    lines.push(
      `  ${base.run.runId} → ${inj.run.runId}: ${c.status}${hit ? '' : ' (MISSED)'}: ${regressedRows(c).join('; ')}`,
    );
    for (const r of c.rows.filter((x) => x.mode === expect && x.metric === 'p50')) {
      const k = `${r.path} ${r.kind} ${r.mode}`;
      const e = cells.get(k) ?? { est: [], flagged: 0 };
      e.est.push(r.change.estimate);
      if (r.verdict === 'regressed') e.flagged++;
      cells.set(k, e);
    }
  }
}
const pairs = injected.length * clean.length;
console.log(
  `${knob}=${value}: ${injected.length} injected quick runs × ${clean.length} clean runs = ${pairs} pairs, threshold ${(THRESHOLD * 100).toFixed(0)}%`,
);
console.log(
  `load average at each injected run's start: ${recordedLoads(injected)}; clean: ${recordedLoads(clean)}; now ${load()}`,
);
console.log(
  `detected (exit 1 with a regressed gated ${expect} row): ${detected}/${pairs} (${((100 * detected) / pairs).toFixed(0)}%)`,
);
console.log(`pairs that also failed on a gated row of another mode: ${collateral}/${pairs}`);
console.log(
  `\nadded-p50 change of ${expect} per cell (median over pairs) and how often that row was flagged:`,
);
for (const [k, e] of [...cells].sort())
  console.log(
    `  ${k.padEnd(34)} ${median(e.est) >= 0 ? '+' : ''}${median(e.est).toFixed(1).padStart(6)} µs   flagged ${e.flagged}/${e.est.length}`,
  );
console.log('\npairs:');
for (const l of lines) console.log(l);
