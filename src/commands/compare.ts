// testbed compare <baseline-run> <run> [--threshold 10%]: exits 1 when a metric regressed beyond the
// threshold and significantly, 0 otherwise.
import { UsageError } from '../errors.ts';
import { compareRuns, parseThreshold, type CompareRow } from '../results/compare.ts';
import { readResults } from '../results/store.ts';

function fmt(v: number, unit: string): string {
  return unit === 'µs' ? `${Math.round(v)} µs` : `${v.toFixed(2)} ${unit}`;
}

function line(r: CompareRow): string {
  const sign = r.change.estimate >= 0 ? '+' : '';
  const verdict = r.regressed ? 'REGRESSED' : r.significant ? 'changed' : 'same';
  return [
    `${r.path} ${r.kind} ${r.mode}`.padEnd(36),
    r.metric.padEnd(10),
    `${fmt(r.baseline, r.unit)} → ${fmt(r.current, r.unit)}`.padEnd(30),
    `${sign}${r.changePct.toFixed(1)}%`.padEnd(9),
    `CI [${fmt(r.change.lo, r.unit)}, ${fmt(r.change.hi, r.unit)}]`.padEnd(30),
    verdict,
  ].join(' ');
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(
      'usage: testbed compare <baseline-run> <run> [--threshold 10%]\n\nExit 1 when a metric got worse by more than the threshold and the change is significant.',
    );
    return 0;
  }
  let threshold = 0.1;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--threshold' || a.startsWith('--threshold=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      const t = v === undefined ? null : parseThreshold(v);
      if (t === null) throw new UsageError(`--threshold expects a percentage such as 10%, got '${v ?? ''}'`);
      threshold = t;
    } else if (a.startsWith('-')) throw new UsageError(`compare: unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2)
    throw new UsageError('compare needs two run directories: <baseline-run> <run>');
  const baseline = readResults(positional[0]!);
  const current = readResults(positional[1]!);
  const cmp = compareRuns(baseline, current, { threshold });
  console.log(
    `baseline ${baseline.runId} → run ${current.runId}, threshold +${(threshold * 100).toFixed(1)}% and significant (95% CI excludes 0, Mann–Whitney p < 0.05)`,
  );
  for (const w of cmp.warnings) console.log(`warning: ${w}`);
  for (const r of cmp.rows) console.log(line(r));
  const regressed = cmp.rows.filter((r) => r.regressed);
  console.log(regressed.length ? `${regressed.length} metric(s) regressed` : 'no regression');
  return regressed.length ? 1 : 0;
}
