// Every rendered ruleset of every scenario step must be accepted by the real nft (check mode), and applying
// one for real must replace the previous table atomically. Runs in a throw-away namespace of its own.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAll, applyRuleset, NftApplyError, type Exec } from '../../src/enforce/native/apply.ts';
import { compileAllNodes } from '../../src/enforce/native/compile.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';
import { runIn } from './native-netns.ts';

const run = promisify(execFile);
const NS = `natv${process.pid}chk`;
const exec: Exec = (_host, argv, opts) => runIn(NS, argv, opts);

function scenarioFiles(): string[] {
  const dirs = ['scenarios/conformance', 'scenarios/examples'];
  return dirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => join(d, f)),
  );
}

beforeAll(async () => {
  await run('ip', ['netns', 'add', NS]);
});

afterAll(async () => {
  await run('ip', ['netns', 'del', NS]).catch(() => undefined);
});

describe('nft accepts the rendered rulesets', () => {
  const files = scenarioFiles();
  it('has scenarios to check', () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(`${file}: every step, every node`, async () => {
      const s = loadScenario(file);
      const states = [s.initial, ...statesPerStep(s.initial, s.steps)];
      let checked = 0;
      for (const state of states) {
        const rulesets = compileAllNodes(state);
        await applyAll(exec, rulesets, { check: true });
        checked += rulesets.length;
      }
      expect(checked).toBe(states.length * s.initial.nodes.length);
    });
  }
});

describe('applying for real', () => {
  it('replaces the table in one transaction, twice in a row, and reports nft errors with the line', async () => {
    const s = loadScenario('scenarios/examples/minimal.yaml');
    const [n2] = compileAllNodes(s.initial).filter((r) => r.node === 'n2');
    await applyRuleset(exec, 'n2', n2!.text);
    await applyRuleset(exec, 'n2', n2!.text);
    const listed = await runIn(NS, ['nft', 'list', 'table', 'inet', 'k8s_netpol']);
    expect(listed.stdout).toContain('10.1.2.10 : jump pod_in_y_b');
    expect((listed.stdout.match(/chain pod_in_y_b/g) ?? []).length).toBe(1);

    const broken = n2!.text.replace('counter drop', 'counter dorp');
    const err = await applyRuleset(exec, 'n2', broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftApplyError);
    expect((err as NftApplyError).lineText?.trim()).toBe('counter dorp');
    // The failed transaction left the previous table in force.
    expect((await runIn(NS, ['nft', 'list', 'table', 'inet', 'k8s_netpol'])).stdout).toContain(
      'counter packets',
    );
  });
});
