// kind cluster lifecycle through the `kind` CLI: create from a generated config (--wait), write the cluster's
// kubeconfig to a file of the run's own (never the user's ~/.kube/config), load images, delete.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kindConfigYAML, type KindClusterConfig } from './kind-config.ts';
import { mustRun, runCli, type CliRunner } from './exec-cli.ts';

export const KIND_CREATE_TIMEOUT_MS = 10 * 60_000;

export interface KindCluster {
  name: string;
  kubeconfigPath: string;
}

export class KindCli {
  constructor(
    private readonly run: CliRunner = runCli,
    private readonly bin = process.env.TESTBED_KIND ?? 'kind',
  ) {}

  async version(): Promise<string> {
    const out = await mustRun(this.run, [this.bin, 'version'], 'kind version', { timeoutMs: 5000 });
    return /v\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? out.trim();
  }

  async clusters(): Promise<string[]> {
    const out = await mustRun(this.run, [this.bin, 'get', 'clusters'], 'listing kind clusters', {
      timeoutMs: 15_000,
    });
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('No kind clusters'));
  }

  /** Creates the cluster and waits (kind's --wait) for the control plane; the kubeconfig goes to `dir`. */
  async create(config: KindClusterConfig, dir: string): Promise<KindCluster> {
    const work = mkdtempSync(join(tmpdir(), `${config.name}-`));
    const cfg = join(work, 'kind.yaml');
    const kubeconfigPath = join(dir, `${config.name}.kubeconfig`);
    writeFileSync(cfg, kindConfigYAML(config));
    try {
      await mustRun(
        this.run,
        [
          this.bin,
          'create',
          'cluster',
          '--name',
          config.name,
          '--config',
          cfg,
          '--kubeconfig',
          kubeconfigPath,
          '--wait',
          '5m',
        ],
        `creating kind cluster ${config.name}`,
        { timeoutMs: KIND_CREATE_TIMEOUT_MS },
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return { name: config.name, kubeconfigPath };
  }

  async loadImage(cluster: string, image: string): Promise<void> {
    await mustRun(
      this.run,
      [this.bin, 'load', 'docker-image', image, '--name', cluster],
      `loading image ${image} into ${cluster} (build it first: see README)`,
      { timeoutMs: 5 * 60_000 },
    );
  }

  async delete(name: string): Promise<void> {
    await mustRun(
      this.run,
      [this.bin, 'delete', 'cluster', '--name', name],
      `deleting kind cluster ${name}`,
      { timeoutMs: 3 * 60_000 },
    );
  }
}
