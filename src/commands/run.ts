// `testbed run`: scenarios × enforcement modes on a platform. Every probe cell is tried with real packets and
// compared with the expected table (the engine's; for mode `none` every cell allowed). Prints both tables, the
// diff, and at the end `N passed, N failed` counted in cells. Exit 0 all matched, 1 any mismatch or failed run,
// 2 bad input or missing prerequisite.
import { parseArgs } from 'node:util';
import { ENFORCERS } from '../enforce/index.ts';
import { InputError, UsageError } from '../errors.ts';
import { renderDiff } from '../policy/diff.ts';
import { renderTable, tableToJSON } from '../policy/truthtable.ts';
import { getPlatform, PLATFORM_NAMES } from '../platform/index.ts';
import { loadScenario } from '../scenario/load.ts';
import { modeSchema, type Mode } from '../scenario/schema.ts';
import type { Scenario } from '../scenario/types.ts';
import { runScenarioMode, type ScenarioModeOutcome } from './run-scenario.ts';
import { scenarioFiles } from './verify.ts';

const HELP = `usage: testbed run <scenario files or directories...> [options]

Brings each scenario's topology up on the platform once per mode, enforces its policies, probes every cell of
every step with real connections and compares with the semantics engine (mode none: every cell must be
allowed). Counts are cells: one per source/destination pair that is not a pod to itself and was probed;
cells of protocols this kernel cannot carry (SCTP) are reported as unsupported, not counted.

options:
  --platform NAME   ${PLATFORM_NAMES.join(' | ')} (default mininet)
  --modes LIST      comma-separated enforcement modes (default none,native)
  --cni NAME        kind only: kindnet | calico | cilium (default kindnet)
  --kubeconfig FILE kubernetes only: the cluster to run on (default KUBECONFIG or ~/.kube/config)
  --context NAME    kubernetes only: the kubeconfig context to use
  --keep-going      after a run fails (not a mismatch: an error), continue with the next one
  --json            machine-readable results on stdout (progress and summary on stderr)
  --quiet, -q       print only mismatching probes and the summary`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        platform: { type: 'string', default: 'mininet' },
        modes: { type: 'string', default: 'none,native' },
        cni: { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'keep-going': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(`run: ${(e as Error).message}`);
  }
  const { values: o, positionals } = parsed;
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('run: name at least one scenario file or directory');
  const modes = parseModes(o.modes);
  if (o.platform === 'kind' && modes.includes('overlay') && (o.cni ?? 'kindnet') !== 'kindnet')
    throw new UsageError(
      `run: mode overlay on kind needs --cni kindnet (its policy controller is switched off for the overlay); ${o.cni} would enforce the same NetworkPolicies`,
    );
  if (o.cni && o.platform !== 'kind') throw new UsageError(`run: --cni applies to --platform kind only`);
  if ((o.kubeconfig || o.context) && o.platform !== 'kubernetes')
    throw new UsageError(`run: --kubeconfig/--context apply to --platform kubernetes only`);
  const platform = await getPlatform(o.platform, {
    cni: o.cni,
    kubeconfig: o.kubeconfig,
    context: o.context,
  });
  const scenarios: Scenario[] = scenarioFiles(positionals).map((f) => loadScenario(f)); // InputError → exit 2
  await platform.checkPrerequisites();

  const progress = (l: string) => process.stderr.write(`${l}\n`);
  const outcomes: ScenarioModeOutcome[] = [];
  let stop = false;
  for (const sc of scenarios) {
    for (const mode of modes) {
      if (stop) break;
      let oc: ScenarioModeOutcome;
      try {
        oc = await runScenarioMode(sc, mode, platform, ENFORCERS[mode]!, { progress });
      } catch (e) {
        // Bad input found late (e.g. link delay on a kernel without netem) is the user's to fix: exit 2.
        if (e instanceof UsageError || e instanceof InputError) throw e;
        oc = { file: sc.file, scenario: sc.name, mode, steps: [], error: (e as Error).message };
        progress(`${sc.name} [${mode}]: ERROR ${oc.error}`);
        if (!o['keep-going']) stop = true;
      }
      outcomes.push(oc);
      if (!o.json) printOutcome(oc, o.quiet);
    }
  }

  const cells = outcomes.flatMap((oc) => oc.steps.flatMap((s) => s.probes));
  const passed = cells.reduce((a, p) => a + p.compared - p.mismatched, 0);
  const failed = cells.reduce((a, p) => a + p.mismatched, 0);
  const unsupported = cells.reduce((a, p) => a + p.unsupported, 0);
  const errors = outcomes.filter((oc) => oc.error);
  if (o.json) process.stdout.write(`${JSON.stringify(outcomes.map(toJSON), null, 1)}\n`);
  const say = o.json ? progress : (l: string) => console.log(l);
  if (unsupported) say(`${unsupported} cells unsupported on this kernel (not counted)`);
  if (errors.length)
    say(
      `${errors.length} of ${scenarios.length * modes.length} scenario runs failed with an error: ${errors.map((e) => `${e.scenario} [${e.mode}]`).join(', ')}`,
    );
  if (stop && outcomes.length < scenarios.length * modes.length)
    say(`stopped after the first error (use --keep-going to continue)`);
  say(`${passed} passed, ${failed} failed`);
  return failed > 0 || errors.length > 0 ? 1 : 0;
}

function parseModes(text: string): Mode[] {
  const modes = text
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (modes.length === 0) throw new UsageError('run: --modes is empty');
  return modes.map((m) => {
    const r = modeSchema.safeParse(m);
    if (!r.success)
      throw new UsageError(`run: unknown mode '${m}' (modes: ${modeSchema.options.join(', ')})`);
    if (!ENFORCERS[r.data])
      throw new UsageError(
        `run: mode '${m}' has no enforcer yet (available: ${Object.keys(ENFORCERS).join(', ')})`,
      );
    return r.data;
  });
}

function printOutcome(oc: ScenarioModeOutcome, quiet: boolean): void {
  const head = `== ${oc.scenario} [${oc.mode}] (${oc.file}${oc.prefix ? `, run ${oc.prefix}` : ''})`;
  if (oc.error) {
    console.log(`${head}\nERROR: ${oc.error}`);
    return;
  }
  if (!quiet)
    console.log(
      `${head}: up ${Math.round(oc.upMs ?? 0)} ms, initial programming ${(oc.initialProgrammingMs ?? 0).toFixed(1)} ms`,
    );
  for (const st of oc.steps) {
    for (const p of st.probes) {
      if (quiet && p.mismatched === 0) continue;
      if (quiet) console.log(head);
      const expectedLabel = oc.mode === 'none' ? 'expected (none: all allowed)' : 'expected (engine)';
      console.log(
        `-- step "${st.name}" ${p.port}/${p.protocol}${p.family ? ` ${p.family}` : ''}: programming ${st.programmingMs.toFixed(1)} ms, probe ${Math.round(p.probeMs)} ms`,
      );
      console.log(`${expectedLabel}:\n${renderTable(p.expected)}`);
      console.log(`observed (mode ${oc.mode}):\n${renderTable(p.observed)}`);
      if (p.unsupported)
        console.log(
          `(${p.unsupported} cells not probed: ${
            p.observed.reason?.(
              p.observed.from[0]!,
              p.observed.to.find((t) => t !== p.observed.from[0])!,
            ) ?? ''
          }; shown as -)`,
        );
      console.log(renderDiff(p.diff, 'expected', 'observed', p.family !== undefined));
    }
  }
}

function toJSON(oc: ScenarioModeOutcome) {
  return {
    ...oc,
    steps: oc.steps.map((s) => ({
      ...s,
      probes: s.probes.map((p) => ({
        port: p.port,
        protocol: p.protocol,
        ...(p.family ? { family: p.family } : {}),
        compared: p.compared,
        mismatched: p.mismatched,
        unsupported: p.unsupported,
        probeMs: p.probeMs,
        expected: tableToJSON(p.expected),
        observed: tableToJSON(p.observed),
        mismatches: p.diff.cells,
      })),
    })),
  };
}
