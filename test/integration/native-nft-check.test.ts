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
import { syntheticState } from '../../bench/nft-state.ts';
import { baseState, pod, policy } from '../unit/nft-compile.fixture.ts';
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

describe('nft accepts rulesets beyond the scenarios', () => {
  it('named ports both ways, endPort, protocol-only, SCTP, IPv4/IPv6 ipBlocks with except, IPv6 pods', async () => {
    const v6pod = pod('x', 'six', 'n1', 'fd01::10', { pod: 'six' }, [
      { port: 80, protocol: 'TCP', name: 'http' },
    ]);
    const policies = [
      policy('x', 'eg-named', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ namespaceSelector: {} }, { ipBlock: { cidr: '10.2.0.0/16' } }],
            ports: [{ port: 'http' }, { port: 443 }],
          },
        ],
      }),
      policy('x', 'named', {
        podSelector: {},
        ingress: [
          { from: [{ podSelector: {} }], ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] },
        ],
      }),
      policy('y', 'ports', {
        podSelector: { matchLabels: { pod: 'd' } },
        ingress: [
          {
            ports: [
              { port: 80 },
              { protocol: 'TCP', port: 1000, endPort: 2000 },
              { protocol: 'UDP' },
              { protocol: 'SCTP', port: 9 },
              { port: 1500 },
            ],
          },
        ],
      }),
      policy('y', 'cidr', {
        podSelector: { matchLabels: { pod: 'c' } },
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.1.0/24'] } },
              { ipBlock: { cidr: 'fd00::/64', except: ['fd00::/80'] } },
            ],
          },
        ],
      }),
      policy('y', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    ];
    const rulesets = compileAllNodes(baseState(policies, [v6pod]));
    expect(rulesets.find((r) => r.node === 'n1')!.text).toContain('ip6 saddr vmap @egress_dispatch6');
    await applyAll(exec, rulesets, { check: true });
  });

  it('1,000 synthetic policies (the benchmark workload)', async () => {
    const rulesets = compileAllNodes(syntheticState({ nodes: 3, podsPerNode: 30, policies: 1000 }));
    await applyAll(exec, rulesets, { check: true });
    expect(rulesets).toHaveLength(3);
  });
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
