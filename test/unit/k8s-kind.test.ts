// The kind lifecycle through a fake CLI runner: the commands it runs (config file, --wait, a kubeconfig of the
// run's own), CNI installation steps, and that a failure midway deletes every cluster it started.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { CliRunner } from '../../src/platform/kubernetes/exec-cli.ts';
import { kindPlatform } from '../../src/platform/kubernetes/index.ts';
import { KindCli } from '../../src/platform/kubernetes/kind.ts';
import { readKubeStates } from '../../src/platform/kubernetes/state.ts';
import { loadScenario } from '../../src/scenario/load.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-kind-'));
  process.env.TESTBED_K8S_STATE_DIR = dir;
});
afterEach(() => {
  delete process.env.TESTBED_K8S_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

function recorder(fail?: (argv: string[]) => boolean) {
  const calls: { argv: string[]; config?: string; input?: string }[] = [];
  const run: CliRunner = async (argv, opts) => {
    const i = argv.indexOf('--config');
    calls.push({ argv, config: i > 0 ? readFileSync(argv[i + 1]!, 'utf8') : undefined, input: opts.input });
    if (fail?.(argv)) return { code: 1, stdout: '', stderr: 'ERROR: failed to create cluster: boom' };
    const k = argv.indexOf('--kubeconfig');
    // kind writes the new cluster's kubeconfig where it is told to
    if (argv[0] === 'kind' && argv[1] === 'create' && k > 0)
      writeFileSync(
        argv[k + 1]!,
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
      );
    if (argv[1] === 'get' && argv[2] === 'clusters')
      return { code: 0, stdout: 'No kind clusters found.\n', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  };
  return { run, calls };
}

it('create: generated config, --wait, the run’s own kubeconfig; delete and list', async () => {
  const { run, calls } = recorder();
  const kind = new KindCli(run, 'kind');
  const sc = loadScenario('scenarios/examples/minimal.yaml');
  const { kindConfigs } = await import('../../src/platform/kubernetes/kind-config.ts');
  const cfg = kindConfigs('tb1234', sc.topology, 'calico')[0]!;
  const c = await kind.create(cfg, dir);
  expect(calls[0]!.argv).toEqual([
    'kind',
    'create',
    'cluster',
    '--name',
    'tb1234-c1',
    '--config',
    expect.stringMatching(/kind\.yaml$/),
    '--kubeconfig',
    join(dir, 'tb1234-c1.kubeconfig'),
    '--wait',
    '5m',
  ]);
  expect(calls[0]!.config).toMatch(/disableDefaultCNI: true/);
  expect(c.kubeconfigPath).toBe(join(dir, 'tb1234-c1.kubeconfig'));
  await kind.delete('tb1234-c1');
  expect(calls[1]!.argv).toEqual(['kind', 'delete', 'cluster', '--name', 'tb1234-c1']);
  expect(await kind.clusters()).toEqual([]);
});

it('a failure midway (second cluster) deletes every cluster started and says what failed', async () => {
  const { run, calls } = recorder((argv) => argv.includes('create') && argv.includes('tbabcd-c2'));
  const sc = loadScenario('scenarios/conformance/57-multi-cluster.yaml');
  const platform = kindPlatform({ cni: 'calico', run });
  await expect(platform.up(sc.topology, sc.initial.pods, { prefix: 'tbabcd' })).rejects.toThrow(
    /creating kind cluster tbabcd-c2: 'kind create cluster' failed \(1\): ERROR: failed to create cluster: boom/,
  );
  const kubectl = calls.filter((c) => c.argv[0] === 'kubectl');
  // Calico went into the first cluster: the operator, its CRDs, an Installation for that cluster's pod subnet
  expect(
    kubectl.some((c) => c.argv.includes('create') && c.argv.some((a) => a.includes('tigera-operator.yaml'))),
  ).toBe(true);
  expect(kubectl.find((c) => c.input?.includes('Installation'))!.input).toContain(
    sc.topology.clusters[0]!.podCIDR,
  );
  const deleted = calls.filter((c) => c.argv[1] === 'delete').map((c) => c.argv[4]);
  expect(deleted).toEqual(['tbabcd-c1', 'tbabcd-c2']);
  expect(readKubeStates()).toEqual([]);
  expect(existsSync(join(dir, 'tbabcd.json'))).toBe(false);
});

it("the run's environment records the platform, CNI, its version and whether it enforces (schema-valid)", async () => {
  const { collectEnv } = await import('../../src/measure/env.ts');
  const { envSchema } = await import('../../src/results/schema.ts');
  const platform = kindPlatform({ cni: 'cilium', run: recorder().run });
  const kubernetes = platform.environment!();
  expect(kubernetes).toEqual({
    platform: 'kind',
    cni: 'cilium',
    cniVersion: '1.17.4',
    cniEnforced: true,
    serverVersion: null,
    kindVersion: null,
  });
  const env = await collectEnv({ platform: 'kind', modes: ['native'], scenarioHashes: {}, kubernetes });
  expect(envSchema.parse(env).kubernetes).toEqual(kubernetes);
});
