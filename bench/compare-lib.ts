// Shared by bench/compare-aa.ts and bench/compare-detect.ts: run `testbed main --quick` as a user would (one
// child process per run, back to back, never two at once), find finished runs, and summarize comparisons.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Comparison } from '../src/results/compare.ts';
import { readResults } from '../src/results/store.ts';
import type { RunResults } from '../src/results/schema.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const load = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');

export function args(argv: string[]): {
  opt(k: string, d: string): string;
  list(k: string): string[];
  has(k: string): boolean;
} {
  return {
    opt: (k, d) => {
      const i = argv.indexOf(`--${k}`);
      return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
    },
    list: (k) => argv.flatMap((a, i) => (a === `--${k}` && argv[i + 1] !== undefined ? [argv[i + 1]!] : [])),
    has: (k) => argv.includes(`--${k}`),
  };
}

/** One `testbed main --quick` into resultsDir with extra environment; resolves to the run directory. */
export function runQuick(
  resultsDir: string,
  env: Record<string, string>,
  log: (l: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'bin/testbed'), ['main', '--quick', '--results', resultsDir], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let lastErr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (lastErr = (lastErr + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /^results: (.*)\/results\.json$/m.exec(out);
      if (code === 0 && m) resolve(m[1]!);
      else
        reject(
          new Error(`testbed main --quick exited ${code}: ${lastErr.split('\n').slice(-5).join(' | ')}`),
        );
    });
    const t0 = Date.now();
    child.on('exit', () => log(`  run done in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${load()}`));
  });
}

/** Finished runs (results.json with finishedAt) directly under dir, oldest first. */
export function finishedRuns(dir: string): { dir: string; run: RunResults }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((d) => path.join(dir, d))
    .filter((d) => existsSync(path.join(d, 'results.json')))
    .map((d) => ({ dir: d, run: readResults(d) }))
    .filter((r) => r.run.finishedAt !== undefined);
}

export function regressedRows(c: Comparison): string[] {
  return c.rows
    .filter((r) => r.verdict === 'regressed')
    .map(
      (r) =>
        `${r.path} ${r.kind} ${r.mode} ${r.metric} ${r.change.estimate.toFixed(r.unit === 'µs' ? 0 : 2)}${r.gated ? '' : ' (not gated)'}`,
    );
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
}

/** Load average each run recorded at its start, as "a/b/c" strings. */
export function recordedLoads(runs: { run: RunResults }[]): string {
  return runs.map((r) => (r.run.env.loadAverage ?? []).map((x) => x.toFixed(1)).join('/')).join(', ');
}
