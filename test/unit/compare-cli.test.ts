import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HELP, run as compareCommand } from '../../src/commands/compare.ts';
import { UsageError } from '../../src/errors.ts';
import { writeResults } from '../../src/results/store.ts';
import type { RunResults } from '../../src/results/schema.ts';
import { syntheticRun } from './results.fixture.ts';

let dir: string;
const at = (name: string) => join(dir, name);

function tuned(run: RunResults, ns: number): RunResults {
  run.env.idle = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: ns, tuned: ns > 0 };
  return run;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'compare-cli-'));
  writeResults(at('base'), tuned(syntheticRun({ seed: 1, runId: 'base-run' }), 0));
  writeResults(at('same'), tuned(syntheticRun({ seed: 777, runId: 'same-run' }), 0));
  writeResults(at('slower-machine'), tuned(syntheticRun({ seed: 778, baseShift: 40 }), 0));
  writeResults(at('slow'), tuned(syntheticRun({ seed: 500, overlayShift: 90, runId: 'slow-run' }), 0));
  writeResults(at('tuned'), tuned(syntheticRun({ seed: 501 }), 200000));
  const other = syntheticRun({ seed: 3 });
  for (const r of other.records) r.scenario = 'paper-suite';
  writeResults(at('other-suite'), tuned(other, 0));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real CLI, as CI runs it: its exit status and output. */
function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(process.cwd(), 'bin/testbed'), ['compare', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('testbed compare (the CLI process)', () => {
  it('exit 0 without a regression (also on a slower machine), 1 with one, 2 when it cannot compare', () => {
    expect(cli(at('base'), at('same')).status).toBe(0);
    expect(cli(at('base'), at('slower-machine')).status).toBe(0);
    const slow = cli(at('base'), at('slow'));
    expect(slow.status).toBe(1);
    expect(slow.stdout).toMatch(/cross-node udp-rr overlay .*REGRESSED/);
    const mismatch = cli(at('base'), at('tuned'));
    expect(mismatch.status).toBe(2);
    expect(mismatch.stdout.split('\n').filter((l) => l.startsWith('environment must match:'))).toEqual([
      expect.stringContaining('idle.haltPollNs: 0 → 200000'),
      expect.stringContaining('idle.tuned: false → true'),
    ]);
    expect(mismatch.stdout).not.toMatch(/no regression/);
    const nothing = cli(at('base'), at('other-suite'));
    expect(nothing.status).toBe(2);
    expect(nothing.stdout).toContain('nothing to compare');
    expect(nothing.stdout).not.toMatch(/no regression/);
    const usage = cli(at('base'), at('slow'), '--threshold', 'lots');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('--threshold expects a percentage');
    expect(cli(at('base'), join(dir, 'missing')).status).toBe(2);
  }, 120_000);
});

describe('testbed compare (in process)', () => {
  const captured = async (args: string[]): Promise<{ code: number; out: string }> => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const code = await compareCommand(args);
      return { code, out: log.mock.calls.map((c) => String(c[0])).join('\n') };
    } finally {
      log.mockRestore();
    }
  };

  it('--allow-env-diff gives verdicts, each carrying the caveat', async () => {
    const { code, out } = await captured([at('tuned'), at('slow'), '--allow-env-diff']);
    expect(code).toBe(1);
    const verdicts = out.split('\n').filter((l) => l.includes(' | baseline: '));
    expect(verdicts.length).toBe(10);
    expect(
      verdicts.every((l) => l.includes('caveat: environment differs in idle.haltPollNs, idle.tuned')),
    ).toBe(true);
  });

  it('--format markdown is a table a PR comment can carry', async () => {
    const { code, out } = await captured([at('base'), at('slow'), '--format', 'markdown']);
    expect(code).toBe(1);
    expect(out.split('\n')[0]).toMatch(
      /^\*\*testbed compare\*\*: 2 regressed: .* of 4 gated rows \(p50\); 2 regressed among the 6 not gated/,
    );
    expect(out).toContain(
      '| path | workload | mode | metric | baseline | current | change [95% CI] | verdict |',
    );
    const rows = out.split('\n').filter((l) => l.startsWith('| cross-node') || l.startsWith('| same-node'));
    expect(rows.length).toBe(10);
    expect(rows.filter((l) => l.endsWith('| **regressed** |')).every((l) => l.includes('| overlay |'))).toBe(
      true,
    );
  });

  it('--format json parses and carries the exit code, rows and environment', async () => {
    const { code, out } = await captured([at('base'), at('tuned'), '--format=json']);
    expect(code).toBe(2);
    const j = JSON.parse(out) as {
      exitCode: number;
      status: string;
      env: { mustMatch: { key: string }[] };
      rows: unknown[];
    };
    expect(j).toMatchObject({ exitCode: 2, status: 'env-mismatch', rows: [] });
    expect(j.env.mustMatch.map((d) => d.key)).toEqual(['idle.haltPollNs', 'idle.tuned']);
    const ok = JSON.parse((await captured([at('base'), at('same'), '--format', 'json'])).out) as {
      exitCode: number;
      rows: { verdict: string }[];
    };
    expect(ok.exitCode).toBe(0);
    expect(ok.rows.length).toBe(10);
  });

  it('rejects unknown formats and options; --help documents the exit codes', async () => {
    await expect(compareCommand([at('base'), at('same'), '--format', 'html'])).rejects.toThrow(UsageError);
    await expect(compareCommand([at('base'), at('same'), '--bogus'])).rejects.toThrow(UsageError);
    await expect(compareCommand([at('base')])).rejects.toThrow(UsageError);
    await expect(compareCommand([at('base'), at('same'), '--gate', 'p95'])).rejects.toThrow(/--gate expects/);
    expect(HELP).toMatch(/0 {2}no regression/);
    expect(HELP).toMatch(/1 {2}at least one gated row regressed/);
    expect(HELP).toMatch(/2 {2}cannot compare/);
  });
});
