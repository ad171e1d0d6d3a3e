// `testbed cleanup` for Kubernetes runs removes exactly what a dead run recorded and still carries its prefix.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { cleanupKubernetes } from '../../src/platform/kubernetes/cleanup.ts';
import { readKubeStates, writeKubeState } from '../../src/platform/kubernetes/state.ts';
import { cmdline } from '../../src/platform/runstate.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-k8s-clean-'));
  process.env.TESTBED_K8S_STATE_DIR = dir;
});
afterEach(() => {
  delete process.env.TESTBED_K8S_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

const dead = { pid: 2 ** 22 + 7, marker: 'never-running' };
const t = new Date(0).toISOString();

it('deletes recorded kind clusters and labelled namespaces of dead runs only; live runs stay', async () => {
  writeKubeState({
    prefix: 'tb1234',
    owner: dead,
    platform: 'kind',
    kindClusters: ['tb1234-c1', 'tb1234-c2', 'other'],
    namespaces: [],
    startedAt: t,
  });
  writeKubeState({
    prefix: 'tb5678',
    owner: dead,
    platform: 'kubernetes',
    kindClusters: [],
    namespaces: ['tb5678-x', 'tb5678-y'],
    kubeconfig: '/k',
    startedAt: t,
  });
  writeKubeState({
    prefix: 'tb9abc',
    owner: { pid: process.pid, marker: (cmdline(process.pid) ?? '').slice(0, 50) },
    platform: 'kind',
    kindClusters: ['tb9abc-c1'],
    namespaces: [],
    startedAt: t,
  });
  const deletedClusters: string[] = [];
  const deletedNs: string[] = [];
  const selectors: string[] = [];
  const deps = {
    kind: {
      clusters: async () => ['tb1234-c1', 'other', 'tb9abc-c1', 'kind'],
      delete: async (n: string) => void deletedClusters.push(n),
    },
    client: () => ({
      listNamespaces: async (sel: string) => (selectors.push(sel), ['tb5678-x']), // y lost its label: not ours any more
      deleteNamespace: async (n: string) => void deletedNs.push(n),
      deleteLabelledClusterRbac: async (sel: string) => (selectors.push(`rbac ${sel}`), []),
    }),
  };
  const dry = await cleanupKubernetes(true, deps);
  expect(dry.clusters).toEqual(['tb1234-c1']);
  expect(deletedClusters).toEqual([]);
  expect(readKubeStates()).toHaveLength(3);

  const r = await cleanupKubernetes(false, deps);
  expect(r.runs.sort()).toEqual(['tb1234', 'tb5678']);
  expect(r.skippedLive).toEqual(['tb9abc']);
  expect(deletedClusters).toEqual(['tb1234-c1']); // not 'other' (no prefix), not c2 (kind does not list it)
  expect(deletedNs).toEqual(['tb5678-x']);
  expect(selectors).toContain('testbed.io/run=tb5678');
  expect(selectors).toContain('rbac testbed.io/run=tb5678');
  expect(readKubeStates().map((s) => s.prefix)).toEqual(['tb9abc']);
});

it('a kind that cannot list clusters keeps the record for a later try', async () => {
  writeKubeState({
    prefix: 'tb1234',
    owner: dead,
    platform: 'kind',
    kindClusters: ['tb1234-c1'],
    namespaces: [],
    startedAt: t,
  });
  const r = await cleanupKubernetes(false, {
    kind: {
      clusters: async () => Promise.reject(new Error('kind: not found')),
      delete: async () => undefined,
    },
  });
  expect(r.problems[0]).toMatch(/cannot list kind clusters/);
  expect(readKubeStates()).toHaveLength(1);
});
