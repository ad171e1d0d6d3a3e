// Recording a run as a named baseline (results/baselines/<name>/): the run is measured into a staging
// directory next to the target (same file system), its README written, and only then renamed into place, so
// `compare` never sees half a baseline. Replacing an existing one moves the old aside first and deletes it last.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.ts';
import { writeFileAtomic } from './store.ts';
import type { RunResults } from './schema.ts';

export const BASELINES_DIR = 'results/baselines';

export function checkBaselineName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
    throw new UsageError(
      `--baseline: '${name}' is not a baseline name (letters, digits, '.', '_', '-'; starts with a letter or digit)`,
    );
  return name;
}

/** A fresh staging directory for a baseline named `name`, inside `baselinesDir`. */
export function stageBaseline(baselinesDir: string, name: string): string {
  mkdirSync(baselinesDir, { recursive: true });
  return mkdtempSync(join(baselinesDir, `.staging-${name}-`));
}

function fmtLoad(l: readonly number[] | undefined): string {
  return l?.length ? l.map((x) => x.toFixed(2)).join(' / ') : 'not recorded';
}

/** The README of a baseline: how it was made, from what the run itself recorded (pure). */
export function baselineReadme(
  name: string,
  run: RunResults,
  command: string,
  loadAtEnd: readonly number[],
): string {
  const e = run.env;
  const idle = e.idle
    ? `CPU idle driver ${e.idle.driver ?? 'none'}, guest halt-poll ${e.idle.haltPollNs ?? 'n/a'} ns ` +
      (e.idle.tuned ? '(set by --tune for the run)' : '(untuned: as the machine was)')
    : 'CPU idle state not recorded';
  const knobs = Object.entries(e.testKnobs ?? {});
  const reps = Math.max(0, ...run.records.map((r) => r.repetition + 1));
  return [
    `# Baseline \`${name}\``,
    '',
    `Recorded with \`${command}\` from ${run.startedAt} to ${run.finishedAt ?? '(unfinished)'}, commit ` +
      `${e.commit ?? 'unknown'}${e.dirty ? ' (with uncommitted changes)' : ''}; platform ${e.platform}, ` +
      `${e.cpuModel} × ${e.cores} cores, kernel ${e.kernel}, Node ${e.node}; ${idle}; load average (1/5/15 min) ` +
      `${fmtLoad(e.loadAverage)} at the start and ${fmtLoad(loadAtEnd)} at the end; test knobs: ` +
      `${knobs.length ? knobs.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}; ${run.records.length} records, ` +
      `${reps} repetitions per cell; scenarios ${run.scenarios.map((s) => `${s.name} (${s.hash.slice(0, 12)})`).join(', ')}.`,
    '',
    `Only \`results.json\` is data; the report, \`analysis.json\` and \`figures/\` are re-rendered from it with ` +
      `\`testbed report results/baselines/${name}\`. Compare a run made the same way with ` +
      `\`testbed compare results/baselines/${name} results/<run-id>\`.`,
    '',
  ].join('\n');
}

/** Writes the README into the staged run directory and renames it to `<baselinesDir>/<name>`. */
export function installBaseline(runDir: string, baselinesDir: string, name: string, readme: string): string {
  writeFileAtomic(join(runDir, 'README.md'), readme);
  // The SVGs are the PNGs' sources and inlined in report.html; keeping both in git would double the figures.
  const figures = join(runDir, 'figures');
  if (existsSync(figures))
    for (const f of readdirSync(figures)) if (f.endsWith('.svg')) rmSync(join(figures, f));
  const target = join(baselinesDir, name);
  let old: string | undefined;
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new UsageError(`--baseline: ${target} exists and is not a directory`);
    old = join(baselinesDir, `.old-${name}-${process.pid}-${Date.now()}`);
    renameSync(target, old);
  }
  try {
    renameSync(runDir, target);
  } catch (e) {
    if (old) renameSync(old, target);
    throw e;
  }
  if (old) rmSync(old, { recursive: true, force: true });
  return target;
}

export function loadNow(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}
