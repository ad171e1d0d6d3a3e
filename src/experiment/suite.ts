// A whole measurement run: scenarios × modes on one platform, conformance pass rates per mode, every record
// written through the store as it arrives (so a crash keeps what was measured), then the env fingerprint and
// the mode bookkeeping (which modes ran, which were missing and why).
import { join } from 'node:path';
import { runScenarioMode } from '../commands/run-scenario.ts';
import type { EnforcerFactory } from '../enforce/enforcer.ts';
import { collectEnv } from '../measure/env.ts';
import { emptyTally, tallyByLayer } from '../policy/diff.ts';
import type { Platform } from '../platform/platform.ts';
import { RESULTS_SCHEMA_VERSION, type ConformanceRecord, type RunResults } from '../results/schema.ts';
import { newRunId, writeResults } from '../results/store.ts';
import type { Mode } from '../scenario/schema.ts';
import type { Scenario } from '../scenario/types.ts';
import { runScenario, type RunnerOptions } from './runner.ts';

export interface SuiteOptions {
  platform: Platform;
  enforcers: Partial<Record<Mode, EnforcerFactory>>;
  scenarios: Scenario[];
  /** Scenarios whose probe steps give the conformance pass rate per mode. */
  conformance: Scenario[];
  modes: Mode[];
  quick: boolean;
  repetitions?: number;
  sweepMax?: number;
  sweepModes?: Mode[];
  /** See RunnerOptions.settle (default: wait for this machine's CPUs to be quiet). */
  settle?: RunnerOptions['settle'];
  resultsDir: string;
  progress(line: string): void;
}

export async function runSuite(opts: SuiteOptions): Promise<{ runDir: string; results: RunResults }> {
  const runId = newRunId();
  const runDir = join(opts.resultsDir, runId);
  const available = opts.modes.filter((m) => opts.enforcers[m]);
  const missing = opts.modes
    .filter((m) => !opts.enforcers[m])
    .map((mode) => ({ mode, reason: 'no enforcer registered in src/enforce/index.ts' }));
  for (const m of missing) opts.progress(`mode ${m.mode} is MISSING: ${m.reason}`);
  const env = await collectEnv({
    platform: opts.platform.name,
    modes: available,
    scenarioHashes: Object.fromEntries([...opts.scenarios, ...opts.conformance].map((s) => [s.name, s.hash])),
    kubernetes: opts.platform.environment?.(),
  });
  const results: RunResults = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId,
    startedAt: new Date().toISOString(),
    quick: opts.quick,
    env,
    scenarios: opts.scenarios.map((s) => ({ name: s.name, file: s.file, hash: s.hash })),
    modes: { requested: opts.modes, ran: [], missing },
    records: [],
    programming: [],
    conformance: [],
    notes: [],
  };
  const save = () => writeResults(runDir, results);
  save();
  opts.progress(`run ${runId}: results in ${runDir}`);
  const ran = new Set<string>();
  for (const scenario of opts.scenarios) {
    const r = await runScenario(scenario, {
      platform: opts.platform,
      enforcers: opts.enforcers,
      modes: available.filter((m) => scenario.modes.includes(m)),
      quick: opts.quick,
      repetitions: opts.repetitions,
      sweepMax: opts.sweepMax,
      sweepModes: opts.sweepModes,
      settle: opts.settle,
      onRecord: (rec) => {
        results.records.push(rec);
        save();
      },
      onProgramming: (p) => {
        results.programming.push(p);
        save();
      },
      onNote: (n) => {
        results.notes.push(n);
        save();
      },
      progress: opts.progress,
    });
    r.ran.forEach((m) => ran.add(m));
  }
  results.modes.ran = available.filter((m) => ran.has(m));
  results.conformance = await conformance(opts, available);
  results.finishedAt = new Date().toISOString();
  save();
  return { runDir, results };
}

async function conformance(opts: SuiteOptions, modes: Mode[]): Promise<ConformanceRecord[]> {
  const out: ConformanceRecord[] = [];
  for (const mode of modes.filter((m) => m !== 'none')) {
    const rec: ConformanceRecord = {
      mode,
      passed: 0,
      failed: 0,
      unsupported: 0,
      total: 0,
      source: opts.conformance.map((s) => s.name).join(', '),
    };
    for (const s of opts.conformance) {
      try {
        const o = await runScenarioMode(s, mode, opts.platform, opts.enforcers[mode]!, {});
        for (const step of o.steps)
          for (const p of step.probes) {
            rec.passed += p.compared - p.mismatched;
            rec.failed += p.mismatched;
            rec.unsupported += p.unsupported;
            rec.total += p.compared + p.unsupported;
            // Per expected verdict (allowed / denied at L3 / denied at L7); cells the mode declares
            // inexpressible are left out, as they are of passed/failed.
            const inexpressible = new Set(
              p.diff.cells
                .filter((c) => c.reasonB.startsWith('inexpressible'))
                .map((c) => `${c.from}\u0000${c.to}`),
            );
            rec.byLayer = tallyByLayer(p.expected, p.observed, rec.byLayer ?? emptyTally(), (f, t) =>
              inexpressible.has(`${f}\u0000${t}`),
            );
          }
        opts.progress(
          `conformance ${s.name} [${mode}]: ${rec.passed}/${rec.passed + rec.failed} cells agree so far`,
        );
      } catch (e) {
        opts.progress(`conformance ${s.name} [${mode}]: FAILED ${(e as Error).message.split('\n')[0]}`);
        rec.source += ` (${s.name} failed to run)`;
      }
    }
    out.push(rec);
  }
  return out;
}
