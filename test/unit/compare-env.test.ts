import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyEnvKey, diffEnv, flattenEnv } from '../../src/results/env-diff.ts';
import { readResults, writeResults } from '../../src/results/store.ts';
import { readTestKnobs, knobNumber } from '../../src/measure/test-knobs.ts';
import { UsageError } from '../../src/errors.ts';
import { ENV, syntheticRun } from './results.fixture.ts';

const SUITE = new Set(['suite']);

describe('environment classification', () => {
  it.each([
    'cpuModel',
    'cores',
    'arch',
    'platform',
    'node',
    'tools.iperf3',
    'tools.sockperf',
    'tools.nft',
    'tools.mininet',
    'tools.autocannon',
    'idle.tuned',
    'idle.haltPollNs',
    'idle.driver',
    'idle.governor',
    'testKnobs.TB_SAP_DELAY_US',
    'testKnobs.SOMETHING_NEW',
    'mtu',
    'network.podMtu',
    'cni',
    'kubernetes.cniVersion',
    'scenarioHashes.suite',
  ])('%s must match', (key) => {
    expect(classifyEnvKey(key, SUITE).class).toBe('must-match');
  });

  it.each([
    'kernel',
    'commit',
    'dirty',
    'loadAverage',
    'hostname',
    'memoryBytes',
    'modes',
    'tools.vegaLite',
    'scenarioHashes.paths-cross-node',
    'kubernetesVersion',
    'cluster.nodeCount',
  ])('%s is a note', (key) => {
    expect(classifyEnvKey(key, SUITE).class).toBe('note');
  });

  it('flattens nested fields to dotted keys and keeps arrays whole', () => {
    const f = flattenEnv({ a: 1, b: { c: 'x', d: { e: null } }, l: [1, 2], u: undefined });
    expect([...f]).toEqual([
      ['a', '1'],
      ['b.c', 'x'],
      ['b.d.e', 'null'],
      ['l', '[1,2]'],
    ]);
  });

  it('lists only differences, must-match first; the timestamp is never one', () => {
    const cur = {
      ...structuredClone(ENV),
      timestamp: 'later',
      kernel: 'other',
      cores: 8,
      tools: { iperf3: 'iperf 3.16', sockperf: null },
    };
    const d = diffEnv(ENV, cur, SUITE);
    expect(d.map((x) => [x.key, x.class])).toEqual([
      ['cores', 'must-match'],
      ['tools.iperf3', 'must-match'],
      ['kernel', 'note'],
    ]);
    expect(d[0]).toMatchObject({ baseline: '2', current: '8' });
  });

  it('a field recorded in one run only differs (old baseline without idle state → must match)', () => {
    const cur = {
      ...structuredClone(ENV),
      idle: { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0, tuned: false },
    };
    const d = diffEnv(ENV, cur, SUITE).filter((x) => x.class === 'must-match');
    expect(d.map((x) => x.key)).toEqual(['idle.driver', 'idle.governor', 'idle.haltPollNs', 'idle.tuned']);
    expect(d.every((x) => x.baseline === undefined)).toBe(true);
  });

  it('an empty testKnobs record equals an absent one (runs older than the knobs)', () => {
    expect(diffEnv(ENV, { ...structuredClone(ENV), testKnobs: {} }, SUITE)).toEqual([]);
  });

  it('unknown fingerprint fields survive the store and are compared as notes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compare-env-'));
    try {
      const run = syntheticRun();
      Object.assign(run.env, { futurePlatform: { serverVersion: 'v1.31.0' } });
      writeResults(dir, run);
      expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).env.futurePlatform).toEqual({
        serverVersion: 'v1.31.0',
      });
      const back = readResults(dir);
      const other = { ...structuredClone(back.env), futurePlatform: { serverVersion: 'v1.32.0' } };
      expect(diffEnv(back.env, other, SUITE)).toEqual([
        expect.objectContaining({ key: 'futurePlatform.serverVersion', class: 'note' }),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Kubernetes block: platform and CNI must match, the server version is a note', () => {
    const k = (platform: string, cni: string, serverVersion: string) => ({
      platform,
      cni,
      cniVersion: 'v3.29.3',
      cniEnforced: true,
      serverVersion,
      kindVersion: null,
    });
    const a = { ...syntheticRun().env, kubernetes: k('kind', 'calico', 'v1.31.0') };
    const b = { ...syntheticRun().env, kubernetes: k('kubernetes', 'cilium', 'v1.32.0') };
    const byKey = Object.fromEntries(diffEnv(a, b, SUITE).map((d) => [d.key, d.class]));
    expect(byKey).toEqual({
      'kubernetes.platform': 'must-match',
      'kubernetes.cni': 'must-match',
      'kubernetes.serverVersion': 'note',
    });
  });

  it('still rejects a fingerprint field of the wrong type', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compare-env-'));
    try {
      const run = syntheticRun();
      writeFileSync(join(dir, 'results.json'), JSON.stringify({ ...run, env: { ...run.env, cores: 'two' } }));
      expect(() => readResults(dir)).toThrow(/env\.cores/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('test knobs', () => {
  it('reads only set knobs and validates their values', () => {
    expect(readTestKnobs({ TB_SAP_DELAY_US: '25', TB_NATIVE_PAD_RULES: '', PATH: '/bin' })).toEqual({
      TB_SAP_DELAY_US: '25',
    });
    expect(knobNumber('TB_NATIVE_PAD_RULES', {})).toBe(0);
    expect(knobNumber('TB_NATIVE_PAD_RULES', { TB_NATIVE_PAD_RULES: '500' })).toBe(500);
    expect(() => knobNumber('TB_SAP_DELAY_US', { TB_SAP_DELAY_US: '-3' })).toThrow(UsageError);
    expect(() => knobNumber('TB_SAP_DELAY_US', { TB_SAP_DELAY_US: '25us' })).toThrow(
      /TB_SAP_DELAY_US='25us'/,
    );
  });
});
