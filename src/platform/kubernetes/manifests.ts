// Pure: every object a run of one scenario would create, grouped per cluster and per object kind, sorted, as
// YAML text. `testbed manifests` writes these files; the tests validate every object against the OpenAPI schema.
import { stringify } from 'yaml';
import type { Pod } from '../../policy/model.ts';
import type { Scenario } from '../../scenario/types.ts';
import { serverPlan } from '../../traffic/plan.ts';
import {
  namespaceMap,
  namespaceObject,
  networkPolicyObject,
  podObject,
  type KubeObject,
  type NamespaceMap,
  type ServedPorts,
} from './objects.ts';

export type ManifestMode = 'none' | 'native' | 'overlay';

/** Hook for the overlay's components (control plane, SaPs, sidecars) so this module stays free of them. */
export interface OverlayManifests {
  /** Objects the overlay adds to a cluster (controller, RBAC, SaP DaemonSet, gateway, …). */
  controlPlane(cluster: string): KubeObject[];
  /** A workload pod rewritten to carry the overlay agent (native sidecar + guard init step). */
  injectAgent(pod: KubeObject): KubeObject;
}

export interface ManifestOptions {
  mode: ManifestMode;
  prefix: string;
  /** Prefix namespaces (a shared cluster) rather than using the scenario's names (a cluster of its own). */
  shared: boolean;
  overlay?: OverlayManifests;
}

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export function servedPortsFor(scenario: Scenario): (pod: Pod) => ServedPorts {
  const plan = serverPlan(scenario);
  return (pod) => {
    const s = plan.forHost(podRef(pod), { ...scenario.initial, pods: [pod] });
    return { tcp: s.tcp, udp: s.udp };
  };
}

/**
 * Objects per cluster: the initial state plus everything a step creates (pods it adds, policies it creates, in
 * their first version), since a run creates those too. Policies only for modes that post them.
 */
export function scenarioObjects(scenario: Scenario, opts: ManifestOptions): Map<string, KubeObject[]> {
  const map: NamespaceMap = namespaceMap(
    opts.prefix,
    opts.shared,
    scenario.initial.namespaces.map((n) => n.name),
  );
  const serve = servedPortsFor(scenario);
  const pods = [...scenario.initial.pods];
  const policies = [...scenario.initial.policies];
  const namespaces = [...scenario.initial.namespaces];
  for (const st of scenario.steps)
    for (const a of st.actions) {
      if ('addPod' in a && !pods.some((p) => podRef(p) === podRef(a.addPod))) pods.push(a.addPod);
      if ('createPolicy' in a) {
        const m = a.createPolicy.metadata;
        if (!policies.some((p) => p.metadata.namespace === m.namespace && p.metadata.name === m.name))
          policies.push(a.createPolicy);
      }
    }
  const out = new Map<string, KubeObject[]>();
  for (const c of scenario.topology.clusters) {
    // Namespace sameness: every cluster has every namespace and enforces every policy (engine semantics).
    const objs: KubeObject[] = namespaces.map((n) => namespaceObject(n, map, opts.prefix));
    for (const p of pods.filter((p) => p.cluster === c.name)) {
      const pod = podObject(p, serve(p), map);
      objs.push(opts.mode === 'overlay' && opts.overlay ? opts.overlay.injectAgent(pod) : pod);
    }
    if (opts.mode !== 'none') objs.push(...policies.map((p) => networkPolicyObject(p, map)));
    if (opts.mode === 'overlay' && opts.overlay) objs.push(...opts.overlay.controlPlane(c.name));
    out.set(c.name, objs);
  }
  return out;
}

/** File name for one object kind: the plural, lower case (kubectl's resource name). */
export function kindFile(kind: string): string {
  const lower = kind.toLowerCase();
  const plural = lower.endsWith('s')
    ? `${lower}es`
    : lower.endsWith('y')
      ? `${lower.slice(0, -1)}ies`
      : `${lower}s`;
  return `${plural}.yaml`;
}

const sortKey = (o: KubeObject) => `${o.metadata.namespace ?? ''}\u0000${o.metadata.name}`;

/** One YAML text per file (relative path), deterministic: kinds per file, objects sorted by namespace and name. */
export function renderManifestFiles(perCluster: Map<string, KubeObject[]>): Map<string, string> {
  const files = new Map<string, string>();
  const multi = perCluster.size > 1;
  for (const [cluster, objs] of [...perCluster].sort(([a], [b]) => a.localeCompare(b))) {
    const byKind = new Map<string, KubeObject[]>();
    for (const o of objs) byKind.set(o.kind, [...(byKind.get(o.kind) ?? []), o]);
    for (const [kind, list] of byKind) {
      const sorted = [...list].sort((a, b) =>
        sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0,
      );
      const text = sorted.map((o) => stringify(o, { lineWidth: 0, sortMapEntries: false })).join('---\n');
      files.set(multi ? `${cluster}/${kindFile(kind)}` : kindFile(kind), text);
    }
  }
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}
