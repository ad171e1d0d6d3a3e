// testbed compare <baseline-run> <run>: the I/O around src/results/compare.ts (read both runs, print the
// comparison in the asked format, return the exit code). Exit codes: 0 no regression, 1 a regression,
// 2 cannot compare (environments differ in a must-match field, nothing in common, bad input or usage).
import { UsageError } from '../errors.ts';
import {
  compareRuns,
  DEFAULT_GATE,
  DEFAULT_THRESHOLD,
  exitCodeOf,
  METRICS,
  parseThreshold,
  type Metric,
} from '../results/compare.ts';
import { COMPARE_FORMATS, formatComparison, type CompareFormat } from '../results/compare-format.ts';
import { readResults } from '../results/store.ts';

export const HELP = `usage: testbed compare <baseline-run> <run> [--threshold 10%] [--format text|markdown|json]
                       [--allow-env-diff] [--gate p50,p99,throughput]

Compares what each mode adds over \`none\` in the same run (latency p50 and p99: mode − none; throughput:
mode / none), baseline against run, with a two-level (repetitions, then requests) bootstrap 95% CI of the
change. A machine that got slower moves \`none\` and every mode together and is not a regression; absolute
figures are printed as context. A row REGRESSED when the CI of the change lies above 0 (throughput: below 0)
and the change exceeds the threshold, a fraction of the baseline mode's own figure (default ${DEFAULT_THRESHOLD * 100}%).

Environments are compared first. Fields that change what is measured must match: CPU model, core count,
architecture, platform, Node.js, iperf3/sockperf/nft/mininet/autocannon versions, CPU idle and guest
halt-poll tuning, the measured scenario's hash, MTU and CNI fields, test knobs (TB_SAP_DELAY_US,
TB_NATIVE_PAD_RULES). Kernel build string, load average, commit, host name and fields this version does not
know are printed as notes.

  --threshold T      10%, 10 or 0.1 (default ${DEFAULT_THRESHOLD * 100}%)
  --format F         text (default), markdown (a table for a pull-request comment), json (for scripts)
  --allow-env-diff   compare although a must-match field differs; every verdict then carries the caveat
  --gate M,...       metrics whose regression fails the comparison (default ${DEFAULT_GATE.join(',')}; of
                     ${METRICS.join(', ')}). p99 and throughput are printed with their verdicts but do not
                     fail by default: at the quick suite's size they move with the machine's load (README,
                     "Regression checks")

Exit status:
  0  no regression
  1  at least one gated row regressed
  2  cannot compare: a must-match environment field differs (one line each; see --allow-env-diff), the runs
     have nothing in common (no scenario/measurement with \`none\` and another mode in both), or bad input`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  let threshold = DEFAULT_THRESHOLD;
  let format: CompareFormat = 'text';
  let allowEnvDiff = false;
  let gate: Metric[] = [...DEFAULT_GATE];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (name: string) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (a === '--threshold' || a.startsWith('--threshold=')) {
      const v = value('--threshold');
      const t = parseThreshold(v);
      if (t === null) throw new UsageError(`--threshold expects a percentage such as 10%, got '${v}'`);
      threshold = t;
    } else if (a === '--format' || a.startsWith('--format=')) {
      const v = value('--format');
      if (!(COMPARE_FORMATS as readonly string[]).includes(v))
        throw new UsageError(`--format expects one of ${COMPARE_FORMATS.join(', ')}, got '${v}'`);
      format = v as CompareFormat;
    } else if (a === '--gate' || a.startsWith('--gate=')) {
      const v = value('--gate');
      const ms = v.split(',').map((m) => m.trim());
      const bad = ms.find((m) => !(METRICS as readonly string[]).includes(m));
      if (bad !== undefined || !ms.length)
        throw new UsageError(`--gate expects metrics from ${METRICS.join(', ')}, got '${v}'`);
      gate = ms as Metric[];
    } else if (a === '--allow-env-diff') allowEnvDiff = true;
    else if (a.startsWith('-')) throw new UsageError(`compare: unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2)
    throw new UsageError('compare needs two run directories: <baseline-run> <run>');
  const baseline = readResults(positional[0]!);
  const current = readResults(positional[1]!);
  const cmp = compareRuns(baseline, current, { threshold, allowEnvDiff, gate });
  console.log(formatComparison(cmp, format));
  return exitCodeOf(cmp.status);
}
