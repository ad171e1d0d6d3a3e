import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileAllNodes } from '../../src/enforce/native/compile.ts';
import { UsageError } from '../../src/errors.ts';
import {
  baselineReadme,
  checkBaselineName,
  installBaseline,
  stageBaseline,
} from '../../src/results/baseline.ts';
import { readResults, writeResults } from '../../src/results/store.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { syntheticRun } from './results.fixture.ts';

describe('baselines', () => {
  it('the README says how the baseline was made, from what the run recorded', () => {
    const run = syntheticRun();
    run.env.idle = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0, tuned: false };
    run.env.loadAverage = [1.5, 2, 3];
    const text = baselineReadme(
      'mininet-quick',
      run,
      'testbed main --quick --baseline mininet-quick',
      [4, 5, 6],
    );
    expect(text).toContain('Recorded with `testbed main --quick --baseline mininet-quick`');
    expect(text).toContain('commit abc123');
    expect(text).toContain('guest halt-poll 0 ns (untuned: as the machine was)');
    expect(text).toContain('1.50 / 2.00 / 3.00 at the start and 4.00 / 5.00 / 6.00 at the end');
    expect(text).toContain('test knobs: none');
    expect(text).toContain('3 repetitions per cell');
    run.env.idle.tuned = true;
    expect(baselineReadme('x', run, 'c', [])).toContain('(set by --tune for the run)');
  });

  it('installs a staged run by rename, replacing an older baseline and leaving nothing else behind', () => {
    const root = mkdtempSync(join(tmpdir(), 'baselines-'));
    try {
      const stage1 = stageBaseline(root, 'q');
      writeResults(join(stage1, 'run1'), syntheticRun({ runId: 'first' }));
      mkdirSync(join(stage1, 'run1', 'figures'));
      writeFileSync(join(stage1, 'run1', 'figures', 'a.svg'), '<svg/>');
      writeFileSync(join(stage1, 'run1', 'figures', 'a.png'), 'png');
      const target = installBaseline(join(stage1, 'run1'), root, 'q', 'first readme\n');
      expect(readResults(target).runId).toBe('first');
      expect(readdirSync(join(target, 'figures'))).toEqual(['a.png']);
      expect(readFileSync(join(target, 'README.md'), 'utf8')).toBe('first readme\n');

      const stage2 = stageBaseline(root, 'q');
      writeResults(join(stage2, 'run2'), syntheticRun({ runId: 'second' }));
      installBaseline(join(stage2, 'run2'), root, 'q', 'second readme\n');
      expect(readResults(target).runId).toBe('second');
      expect(existsSync(join(target, 'figures'))).toBe(false);
      rmSync(stage1, { recursive: true });
      rmSync(stage2, { recursive: true });
      expect(readdirSync(root)).toEqual(['q']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects names that are paths or hidden', () => {
    expect(checkBaselineName('mininet-full')).toBe('mininet-full');
    for (const bad of ['../x', '.hidden', 'a/b', '', 'x y'])
      expect(() => checkBaselineName(bad)).toThrow(UsageError);
  });
});

describe('native padding knob (TB_NATIVE_PAD_RULES)', () => {
  const state = loadScenario('scenarios/paper/suite-quick.yaml').initial;

  it('puts N never-matching linear rules at the top of the forward hook, ahead of conntrack', () => {
    const [plain] = compileAllNodes(state);
    const [padded] = compileAllNodes(state, 'k8s_netpol', 3);
    const forward = padded!.text.slice(padded!.text.indexOf('chain forward {'));
    const lines = forward.split('\n').map((l) => l.trim());
    const first = lines.findIndex((l) => l.startsWith('ip saddr 192.0.2.'));
    expect(lines.slice(first, first + 4)).toEqual([
      'ip saddr 192.0.2.0 ip daddr 198.51.100.0 drop',
      'ip saddr 192.0.2.1 ip daddr 198.51.100.0 drop',
      'ip saddr 192.0.2.2 ip daddr 198.51.100.0 drop',
      'ct state established,related accept',
    ]);
    expect(padded!.ruleCount).toBe(plain!.ruleCount + 3);
    // Off (0) is byte-for-byte the normal ruleset.
    expect(compileAllNodes(state, 'k8s_netpol', 0)[0]!.text).toBe(plain!.text);
    expect(plain!.text).not.toContain('192.0.2.');
  });
});
