// The two Kubernetes entry points behind the Platform interface:
//   kind        one kind cluster per topology cluster, made and deleted by the run (`--cni kindnet|calico|cilium`)
//   kubernetes  an existing cluster (`--kubeconfig FILE [--context NAME]`): only namespaces carrying the run
//               prefix are created, and exactly those are deleted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../errors.ts';
import type { Pod } from '../../policy/model.ts';
import type { Topology } from '../../scenario/types.ts';
import { isPrefix, newPrefix } from '../mininet/topo.ts';
import type { Platform, ServedPorts } from '../platform.ts';
import { cmdline } from '../runstate.ts';
import { cniInfo, cniInstallSteps, type CniInfo } from './cni.ts';
import { mustRun, runCli, type CliRunner } from './exec-cli.ts';
import { CNI_NAMES, kindConfigs, type CniName } from './kind-config.ts';
import { KindCli } from './kind.ts';
import { KubernetesNetwork } from './network.ts';
import { checkClusterPrerequisites, checkKindPrerequisites } from './prereq.ts';
import { removeKubeState, writeKubeState } from './state.ts';

export { KubernetesNetwork, isKubernetesNetwork } from './network.ts';

type UpOpts = { prefix?: string; serve?: (pod: Pod) => ServedPorts };

function runPrefix(opts: UpOpts): string {
  const prefix = opts.prefix ?? newPrefix();
  if (!isPrefix(prefix)) throw new Error(`run prefix '${prefix}' must be 'tb' + 4 hex digits`);
  return prefix;
}

export function parseCni(name: string | undefined): CniName {
  const cni = (name ?? 'kindnet') as CniName;
  if (!CNI_NAMES.includes(cni))
    throw new UsageError(`unknown --cni '${name}' (available: ${CNI_NAMES.join(', ')})`);
  return cni;
}

export interface KindPlatform extends Platform {
  readonly cni: CniName;
}

export function kindPlatform(o: { cni?: string; run?: CliRunner; toolsImage?: string } = {}): KindPlatform {
  const cni = parseCni(o.cni);
  const run = o.run ?? runCli;
  const kind = new KindCli(run);
  let kindVersion: string | undefined;
  return {
    name: 'kind',
    cni,
    async checkPrerequisites() {
      ({ kindVersion } = await checkKindPrerequisites({ cni, run }));
    },
    environment() {
      const info = cniInfo(cni, kindVersion);
      return {
        platform: 'kind',
        cni,
        cniVersion: info.version,
        cniEnforced: info.enforcesNetworkPolicy ?? null,
        serverVersion: null,
        kindVersion: kindVersion ?? null,
      };
    },
    async up(topology: Topology, pods: Pod[], opts: UpOpts = {}) {
      const prefix = runPrefix(opts);
      const configs = kindConfigs(prefix, topology, cni);
      const owner = {
        pid: process.pid,
        marker: (cmdline(process.pid) ?? process.argv.join(' ')).slice(0, 200),
      };
      // Recorded before the first cluster exists, so a crash midway still leaves cleanup a list.
      const state = { kindClusters: configs.map((c) => c.name) };
      writeKubeState({
        ...state,
        prefix,
        owner,
        platform: 'kind',
        namespaces: [],
        startedAt: new Date().toISOString(),
      });
      const dir = mkdtempSync(join(tmpdir(), `${prefix}-kube-`));
      const made: string[] = [];
      const destroy = async () => {
        const errors: string[] = [];
        for (const name of made) await kind.delete(name).catch((e: Error) => errors.push(e.message));
        rmSync(dir, { recursive: true, force: true });
        if (errors.length) throw new Error(errors.join('; '));
      };
      try {
        // The client library is loaded only once a cluster exists: prerequisite checks stay fast without it.
        const { KubeClient, loadKubeConfig } = await import('./client.ts');
        const clusters = [];
        for (const [i, cfg] of configs.entries()) {
          made.push(cfg.name);
          const c = await kind.create(cfg, dir);
          for (const step of cniInstallSteps(cni, cfg.networking.podSubnet, c.kubeconfigPath))
            await mustRun(run, step.argv, `installing ${cni}: ${step.what}`, {
              timeoutMs: step.timeoutMs,
              input: step.input,
            });
          if (o.toolsImage) await kind.loadImage(c.name, o.toolsImage);
          if (o.toolsImage) await kind.loadImage(c.name, o.toolsImage);
          clusters.push({
            name: topology.clusters[i]!.name,
            client: new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath })),
            kubeconfig: c.kubeconfigPath,
          });
        }
        const info: CniInfo = cniInfo(cni, kindVersion);
        return await KubernetesNetwork.up({
          prefix,
          platform: 'kind',
          topology,
          pods,
          serve: opts.serve,
          clusters,
          shared: false,
          cni: info,
          state,
          toolsImage: o.toolsImage,
          destroyClusters: destroy,
          loadImage: async (image) => {
            for (const name of made) await kind.loadImage(name, image);
          },
        });
      } catch (e) {
        // The record goes only when the clusters are gone; otherwise `testbed cleanup` still has it.
        await destroy().then(
          () => removeKubeState(prefix),
          () => undefined,
        );
        throw e;
      }
    },
  };
}

export function kubernetesPlatform(
  o: { kubeconfig?: string; context?: string; toolsImage?: string } = {},
): Platform {
  let serverVersion: string | undefined;
  return {
    name: 'kubernetes',
    checkPrerequisites: async () => {
      ({ serverVersion } = await checkClusterPrerequisites(o));
    },
    // The cluster's CNI is the operator's and is not inspected.
    environment: () => ({
      platform: 'kubernetes',
      cni: 'existing',
      cniVersion: 'unknown',
      cniEnforced: null,
      serverVersion: serverVersion ?? null,
      kindVersion: null,
    }),
    async up(topology: Topology, pods: Pod[], opts: UpOpts = {}) {
      if (topology.clusters.length !== 1)
        throw new UsageError(
          `--platform kubernetes drives one cluster; the scenario has ${topology.clusters.length} (use --platform kind for multi-cluster topologies)`,
        );
      const prefix = runPrefix(opts);
      const { KubeClient, loadKubeConfig } = await import('./client.ts');
      const client = new KubeClient(loadKubeConfig(o));
      return KubernetesNetwork.up({
        prefix,
        platform: 'kubernetes',
        topology,
        pods,
        serve: opts.serve,
        clusters: [
          { name: topology.clusters[0]!.name, client, kubeconfig: o.kubeconfig, context: o.context },
        ],
        toolsImage: o.toolsImage,
        shared: true,
        // The cluster's CNI is the operator's: its name and whether it enforces are not inspected.
        cni: { name: 'existing', version: 'unknown' },
        state: { kindClusters: [], kubeconfig: o.kubeconfig, context: o.context },
      });
    },
  };
}
