// `testbed cleanup` for Kubernetes runs: what a crashed run recorded (state.ts) and nothing else. A kind
// cluster is deleted only if kind still lists it and its name carries the run's prefix; a namespace only if it
// was recorded by the run AND still carries the run's label on the cluster. Live runs are left alone.
import { isOurs } from '../runstate.ts';
import { KubeClient, loadKubeConfig } from './client.ts';
import { KindCli } from './kind.ts';
import { RUN_LABEL } from './kind-config.ts';
import { readKubeStates, removeKubeState, type KubeRunState } from './state.ts';

export interface KubeCleanupReport {
  runs: string[];
  clusters: string[];
  namespaces: string[];
  /** Cluster-scoped objects (the overlay's RBAC) removed by their run label. */
  objects: string[];
  skippedLive: string[];
  problems: string[];
}

export interface KubeCleanupDeps {
  kind?: Pick<KindCli, 'clusters' | 'delete'>;
  client?: (
    st: KubeRunState,
  ) => Pick<KubeClient, 'listNamespaces' | 'deleteNamespace' | 'deleteLabelledClusterRbac'>;
}

export async function cleanupKubernetes(
  dryRun = false,
  deps: KubeCleanupDeps = {},
): Promise<KubeCleanupReport> {
  const report: KubeCleanupReport = {
    runs: [],
    clusters: [],
    namespaces: [],
    objects: [],
    skippedLive: [],
    problems: [],
  };
  const kind = deps.kind ?? new KindCli();
  const clientFor =
    deps.client ??
    ((st) => new KubeClient(loadKubeConfig({ kubeconfig: st.kubeconfig, context: st.context })));
  let kindClusters: string[] | undefined;
  for (const st of readKubeStates()) {
    if (isOurs(st.owner)) {
      report.skippedLive.push(st.prefix);
      continue;
    }
    report.runs.push(st.prefix);
    let clean = true;
    if (st.kindClusters.length) {
      try {
        kindClusters ??= await kind.clusters();
      } catch (e) {
        report.problems.push(`${st.prefix}: cannot list kind clusters (${(e as Error).message})`);
        continue;
      }
      for (const name of st.kindClusters.filter(
        (n) => n.startsWith(`${st.prefix}-`) && kindClusters!.includes(n),
      )) {
        report.clusters.push(name);
        if (!dryRun)
          await kind.delete(name).catch((e: Error) => {
            clean = false;
            report.problems.push(e.message);
          });
      }
    } else if (st.namespaces.length) {
      try {
        const c = clientFor(st);
        const labelled = new Set(await c.listNamespaces(`${RUN_LABEL}=${st.prefix}`));
        for (const ns of st.namespaces.filter((n) => labelled.has(n))) {
          report.namespaces.push(ns);
          if (!dryRun) await c.deleteNamespace(ns);
        }
        // The overlay's ClusterRole/Binding carry the run label too (reference-impl/k8s).
        if (!dryRun) report.objects.push(...(await c.deleteLabelledClusterRbac(`${RUN_LABEL}=${st.prefix}`)));
      } catch (e) {
        clean = false;
        report.problems.push(`${st.prefix}: ${(e as Error).message}`);
      }
    }
    if (!dryRun && clean) removeKubeState(st.prefix);
  }
  return report;
}
