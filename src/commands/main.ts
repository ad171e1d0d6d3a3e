// testbed main [--quick] [--baseline NAME]: the paper suite on Mininet end to end — measurements under every registered mode,
// conformance pass rate per mode on the paper's path scenarios — then the report. Prints the report path.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ENFORCERS } from '../enforce/index.ts';
import { UsageError } from '../errors.ts';
import { runSuite } from '../experiment/suite.ts';
import { getPlatform } from '../platform/index.ts';
import { writeReport } from '../report/report.ts';
import { loadScenario } from '../scenario/load.ts';
import { modeSchema, type Mode } from '../scenario/schema.ts';
import { rmSync } from 'node:fs';
import { knobNumber, readTestKnobs, TEST_KNOBS, type TestKnob } from '../measure/test-knobs.ts';
import { tuneIdle } from '../measure/tuning.ts';
import {
  BASELINES_DIR,
  baselineReadme,
  checkBaselineName,
  installBaseline,
  loadNow,
  stageBaseline,
} from '../results/baseline.ts';

const HELP = `usage: testbed main [--quick] [--tune] [--modes LIST] [--results DIR] [--suite FILE]...
                    [--platform mininet|kind|kubernetes] [--cni NAME] [--kubeconfig FILE] [--context NAME]
                    [--tools-image IMAGE]
                    [--baseline NAME]

Runs the paper suite (scenarios/paper/suite.yaml) on Mininet under each mode (default: none, native, overlay,
overlay-ebpf, and none, native, overlay each also +l7), interleaving modes across repetitions, then the conformance probes of
scenarios/paper/paths-*.yaml and of a sample of scenarios/conformance-l7/ per mode, and writes
results/<run-id>/report.html. --quick: suite-quick.yaml, 3 repetitions, native sweeps only (policies to
1,000; pods as the suite lists), conformance on paths-cross-node only. --tune: for the run, set the VM's
guest halt-polling window to 200 µs (restored at exit; recorded in the results) so idle vCPUs do not halt
between hops — see src/measure/tuning.ts. --baseline NAME: record the run as results/baselines/NAME (measured
into a staging directory there and renamed into place when complete, replacing an older one; a README says
how it was made); refused while a test knob (${Object.keys(TEST_KNOBS).join(', ')}) is set. Needs root.
On --platform kind|kubernetes (see README, "Kubernetes"): measurements run in the pods' tools container
(--tools-image, default policy-testbed/tools:0.1.0, built from docker/tools.Dockerfile; kubectl on PATH).`;

/** Combined L3 × L7 cases: L3 allows and L7 denies, L3 denies and L7 would allow, both. */
const L7_CONFORMANCE = [
  '43-l3-and-l7-combined.yaml',
  '41-l3-allows-l7-denies.yaml',
  '42-l3-denies-l7-would-allow.yaml',
];

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  let quick = false;
  let tune = false;
  let modesArg: Mode[] | undefined;
  let resultsDir = 'results';
  const suites: string[] = [];
  const platformOpts: { cni?: string; kubeconfig?: string; context?: string; toolsImage?: string } = {};
  let platformName = 'mininet';
  let baseline: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a === '--tune') tune = true;
    else if (a === '--modes')
      modesArg = value()
        .split(',')
        .map((m) => {
          const r = modeSchema.safeParse(m.trim());
          if (!r.success)
            throw new UsageError(`--modes: unknown mode '${m}' (known: ${modeSchema.options.join(', ')})`);
          return r.data;
        });
    else if (a === '--results') resultsDir = value();
    else if (a === '--suite') suites.push(value());
    else if (a === '--platform') platformName = value();
    else if (a === '--cni') platformOpts.cni = value();
    else if (a === '--kubeconfig') platformOpts.kubeconfig = value();
    else if (a === '--context') platformOpts.context = value();
    else if (a === '--tools-image') platformOpts.toolsImage = value();
    else if (a === '--baseline') baseline = checkBaselineName(value());
    else throw new UsageError(`main: unknown option ${a}\n\n${HELP}`);
  }
  if (platformName !== 'mininet') platformOpts.toolsImage ??= 'policy-testbed/tools:0.1.0';
  // The kernel data path and the mesh sidecars are deployed by the Mininet harness only, so on Kubernetes the
  // default is the three modes that exist there (asking for the others is refused by the enforcers).
  const modes: Mode[] =
    modesArg ??
    (platformName === 'mininet'
      ? ['none', 'native', 'overlay', 'overlay-ebpf', 'none+l7', 'native+l7', 'overlay+l7']
      : ['none', 'native', 'overlay']);
  if (baseline && resultsDir !== 'results')
    throw new UsageError('--baseline writes into results/baselines/NAME: drop --results');
  // A malformed knob fails here, not in the middle of the run; a set one is said loudly and kept out of baselines.
  for (const k of Object.keys(TEST_KNOBS)) knobNumber(k as TestKnob);
  const knobs = Object.entries(readTestKnobs());
  if (knobs.length && baseline)
    throw new UsageError(
      `--baseline: refusing to record a baseline with test knobs set (${knobs.map(([k, v]) => `${k}=${v}`).join(', ')})`,
    );
  for (const [k, v] of knobs)
    process.stderr.write(`TEST KNOB ${k}=${v}: ${TEST_KNOBS[k as TestKnob]} (recorded in the results)\n`);
  const platform = await getPlatform(platformName, platformOpts);
  await platform.checkPrerequisites();
  if (tune) {
    const t = tuneIdle();
    process.stderr.write(`--tune: guest halt-poll ${t.before} ns -> ${t.after} ns for this run\n`);
  }
  const files = suites.length
    ? suites
    : [quick ? 'scenarios/paper/suite-quick.yaml' : 'scenarios/paper/suite.yaml'];
  const scenarios = files.map(loadScenario);
  const pathFiles = readdirSync('scenarios/paper')
    .filter((f) => /^paths-.*\.yaml$/.test(f))
    .sort()
    .map((f) => join('scenarios/paper', f));
  // The L3 × L7 cases behind the paper table's "L3–L7 end to end" row (the full set: test/integration).
  const l7Files = (quick ? L7_CONFORMANCE.slice(0, 1) : L7_CONFORMANCE).map((f) =>
    join('scenarios/conformance-l7', f),
  );
  const conformance = [
    ...(quick ? pathFiles.filter((f) => f.endsWith('paths-cross-node.yaml')) : pathFiles),
    ...(modes.some((m) => m.endsWith('+l7')) ? l7Files : []),
  ].map(loadScenario);
  const t0 = Date.now();
  const log = (l: string) =>
    process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}\n`);
  const staging = baseline ? stageBaseline(BASELINES_DIR, baseline) : undefined;
  if (staging) resultsDir = staging;
  try {
    return await measureAndReport();
  } finally {
    if (staging) rmSync(staging, { recursive: true, force: true });
  }

  async function measureAndReport(): Promise<number> {
    const { runDir, results } = await runSuite({
      platform,
      enforcers: ENFORCERS,
      scenarios,
      conformance,
      modes,
      quick,
      repetitions: quick ? 3 : undefined,
      sweepMax: quick ? 1000 : undefined,
      // The overlay restarts its processes for every sweep point; in --quick only native gets a curve. The sweeps
      // scale NetworkPolicy, so the +l7 modes (sidecars on top of the same L3) are left out of them.
      sweepModes: quick ? ['native'] : modes.filter((m) => m !== 'none' && !m.endsWith('+l7')),
      resultsDir,
      progress: log,
    });
    log('rendering the report');
    const out = await writeReport(runDir);
    const secs = (Date.now() - t0) / 1000;
    console.log(
      `modes ran: ${results.modes.ran.join(', ') || 'none'}${results.modes.missing.length ? `; missing: ${results.modes.missing.map((m) => m.mode).join(', ')}` : ''}`,
    );
    console.log(
      `records: ${results.records.length}, notes: ${results.notes.length}${results.notes.length ? ' (see report)' : ''}`,
    );
    for (const mode of results.modes.ran.filter((m) => m !== 'none')) {
      const hw = out.analysis.added
        .filter((r) => r.mode === mode)
        .map((r) => (r.p50.hi - r.p50.lo) / 2)
        .sort((a, b) => a - b);
      if (hw.length)
        console.log(
          `95% CI half-width of added p50, ${mode}: median ${hw[Math.floor((hw.length - 1) / 2)]!.toFixed(1)} µs, max ${hw[hw.length - 1]!.toFixed(1)} µs over ${hw.length} path×workload cells`,
        );
    }
    console.log(`total time: ${secs.toFixed(0)} s`);
    if (baseline) {
      const command = ['testbed', 'main', ...argv].join(' ');
      const target = installBaseline(
        runDir,
        BASELINES_DIR,
        baseline,
        baselineReadme(baseline, results, command, loadNow()),
      );
      console.log(`baseline: ${target} (README.md says how it was made)`);
      return 0;
    }
    console.log(`results: ${join(runDir, 'results.json')}`);
    console.log(`report: ${out.html}`);
    return 0;
  }
}
