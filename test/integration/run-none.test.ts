// `testbed run` end to end on Mininet: mode none allows every cell of the minimal scenario; the summary line
// and exit code follow the cell counts; a scenario asking for netem features fails cleanly.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNoneEnforcer, NoneEnforcer } from '../../src/enforce/none.ts';
import type { Network } from '../../src/platform/platform.ts';
import { runScenarioMode } from '../../src/commands/run-scenario.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import { leftovers } from '../../src/platform/mininet/sweep.ts';
import { loadScenario } from '../../src/scenario/load.ts';

const testbed = (args: string[]) => spawnSync('bin/testbed', args, { encoding: 'utf8', timeout: 240_000 });

describe('run, mode none', () => {
  it('allows every cell of scenarios/examples/minimal.yaml, with real probes', async () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    const oc = await runScenarioMode(sc, 'none', mininetPlatform, createNoneEnforcer);
    expect(oc.error).toBeUndefined();
    const probes = oc.steps.flatMap((s) => s.probes);
    expect(probes.length).toBe(sc.steps.reduce((a, s) => a + s.probes.length, 0));
    for (const p of probes) {
      expect(p.mismatched).toBe(0);
      expect(p.compared).toBe(
        p.observed.from.length * p.observed.to.length -
          p.observed.from.filter((f) => p.observed.to.includes(f)).length,
      );
      for (const [i, row] of p.observed.cells.entries())
        row.forEach((c, j) => expect(c).toBe(p.observed.from[i] === p.observed.to[j] ? '-' : '.'));
    }
    expect(leftovers(oc.prefix!)).toEqual({ links: [], pids: [] });
  });

  it('counts a cell that real packets cannot cross as a mismatch, with the probe detail as its reason', async () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    // An "enforcer" that silently drops TCP 80 into y/b while claiming to enforce nothing.
    class Dropping extends NoneEnforcer {
      constructor(private readonly n: Network) {
        super(n);
      }
      override async apply() {
        const r = await this.n.exec('y/b', ['nft', '-f', '-'], {
          input:
            'table inet tbtest { chain in { type filter hook input priority 0; tcp dport 80 drop; }; }\n',
        });
        if (r.code !== 0) throw new Error(r.stderr);
        return { programmingMs: 0 };
      }
    }
    const dropping = (net: Network) => new Dropping(net);
    const oc = await runScenarioMode(sc, 'none', mininetPlatform, dropping);
    const p = oc.steps[0]!.probes[0]!;
    expect(p.mismatched).toBe(1);
    expect(p.diff.cells.map((c) => [c.from, c.to, c.a, c.b])).toEqual([['x/a', 'y/b', '.', 'X']]);
    expect(p.diff.cells[0]!.reasonB).toMatch(/probe blocked \(timeout/);
    expect(leftovers(oc.prefix!)).toEqual({ links: [], pids: [] });
  });

  it('the CLI prints both tables and `N passed, N failed`, exit 0', () => {
    const r = testbed(['run', 'scenarios/examples/minimal.yaml', '--modes', 'none']);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('expected (none: all allowed)');
    expect(r.stdout).toContain('observed (mode none)');
    const last = r.stdout.trim().split('\n').at(-1);
    expect(last).toBe('2 passed, 0 failed');
  });

  it('JSON output carries the observed rows', () => {
    const r = testbed(['run', 'scenarios/examples/minimal.yaml', '--modes', 'none', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      mode: string;
      steps: { probes: { observed: { rows: string[] } }[] }[];
    }[];
    expect(out[0]!.mode).toBe('none');
    expect(out[0]!.steps[0]!.probes[0]!.observed.rows).toEqual(['-.', '.-']);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('2 passed, 0 failed');
  });

  it('a scenario with link delay is refused (exit 2) naming netem; so is a bad mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-run-'));
    const f = join(dir, 'delay.yaml');
    writeFileSync(
      f,
      readFileSync('scenarios/examples/minimal.yaml', 'utf8').replace(
        'topology:\n',
        'topology:\n  links: { delayMs: 5 }\n',
      ),
    );
    const r = testbed(['run', f, '--modes', 'none']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/delayMs: 5.*netem/);
    const bad = testbed(['run', f, '--modes', 'bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown mode 'bogus'/);
  });
});
