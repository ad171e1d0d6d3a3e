// Does the controller see what the scenario means? Every single-cluster conformance scenario, at every step,
// is stored in the fake API server as the objects an overlay run creates (namespaces, injected pods with the
// scenario's addresses, NetworkPolicies, one SaP pod per node, a gateway), read back through client-node's
// typed list calls (the same calls the controller's reflectors make) and converted by desiredFromApi. The
// semantics engine's verdict must then be the same on the scenario state and on the converted state for every
// pod → pod and node → pod flow on every declared and probed port.
// Default run: every third single-cluster scenario (a representative sample, fast); all of them with
// TESTBED_K8S_ALL_SCENARIOS=1.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { desiredFromApi, type ApiObject } from '../../reference-impl/control-plane/k8s/state-from-api.ts';
import { ROLE_LABEL } from '../../reference-impl/k8s/constants.ts';
import { injectOverlayAgent } from '../../reference-impl/k8s/inject.ts';
import { verdict } from '../../src/policy/engine.ts';
import type { ClusterState, Flow, Protocol } from '../../src/policy/model.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';
import { startFakeKube, type KubeObject } from '../support/k8s-fake/server.ts';

const DIR = new URL('../../scenarios/conformance/', import.meta.url).pathname;
const singleCluster = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .filter((f) => loadScenario(join(DIR, f)).topology.clusters.length === 1);
const files = process.env.TESTBED_K8S_ALL_SCENARIOS
  ? singleCluster
  : singleCluster.filter((_, i) => i % 3 === 0);

async function viaApi(state: ClusterState): Promise<ClusterState> {
  const ipOf = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, p.ip]));
  const nodeIp = new Map(state.nodes.map((n) => [n.name, n.ip]));
  const kube = await startFakeKube({
    assignPodIP: (o: KubeObject) =>
      o.metadata.labels?.[ROLE_LABEL] === 'sap'
        ? nodeIp.get(o.spec!.nodeName as string)!
        : (ipOf.get(`${o.metadata.namespace}/${o.metadata.name}`) ?? '192.0.2.1'),
    assignHostIP: (o: KubeObject) => nodeIp.get(o.spec!.nodeName as string) ?? '192.0.2.254',
  });
  try {
    const s = kube.store;
    s.create('namespaces', undefined, { metadata: { name: 'ov' } });
    for (const n of state.namespaces)
      s.create('namespaces', undefined, { metadata: { name: n.name, labels: n.labels } });
    for (const n of state.nodes)
      s.create('pods', 'ov', {
        metadata: { name: `sap-${n.name}`, labels: { [ROLE_LABEL]: 'sap' } },
        spec: { nodeName: n.name, containers: [{ name: 'sap' }] },
      });
    s.create('pods', 'ov', {
      metadata: { name: 'gw', labels: { [ROLE_LABEL]: 'gateway' } },
      spec: { nodeName: state.nodes[0]!.name, containers: [{ name: 'gateway' }] },
    });
    for (const p of state.pods)
      s.create(
        'pods',
        p.namespace,
        injectOverlayAgent({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
          spec: {
            nodeName: p.node,
            containers: [
              {
                name: 'serve',
                image: 'agnhost',
                ports: p.ports.map((c) => ({
                  containerPort: c.port,
                  protocol: c.protocol,
                  ...(c.name ? { name: c.name } : {}),
                })),
              },
            ],
          },
        }) as never,
      );
    for (const pol of state.policies) s.create('networkpolicies', pol.metadata.namespace, pol as never);
    const kc = kube.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    const plain = (o: unknown): ApiObject[] => JSON.parse(JSON.stringify(o)) as ApiObject[];
    const d = desiredFromApi(
      {
        namespaces: plain((await core.listNamespace()).items),
        pods: plain(
          (await core.listPodForAllNamespaces({ labelSelector: 'overlay.testbed.io/managed=true' })).items,
        ),
        components: plain(
          (await core.listNamespacedPod({ namespace: 'ov', labelSelector: ROLE_LABEL })).items,
        ),
        policies: plain((await net.listNetworkPolicyForAllNamespaces()).items),
      },
      { cluster: state.nodes[0]!.cluster },
    );
    expect(d.invalidPolicies).toEqual([]);
    expect(d.skippedPods).toEqual([]);
    return d.state;
  } finally {
    await kube.close();
  }
}

function flows(state: ClusterState): Flow[] {
  const out: Flow[] = [];
  const ports = new Map<string, { port: number | string; protocol: Protocol }>();
  for (const p of state.pods)
    for (const c of p.ports) {
      ports.set(`${c.port}/${c.protocol}`, { port: c.port, protocol: c.protocol });
      if (c.name) ports.set(`${c.name}/${c.protocol}`, { port: c.name, protocol: c.protocol });
    }
  for (const port of [80, 81]) ports.set(`${port}/TCP`, { port, protocol: 'TCP' });
  ports.set('53/UDP', { port: 53, protocol: 'UDP' });
  const sources = [
    ...state.pods.map((p) => `${p.namespace}/${p.name}`),
    ...state.nodes.map((n) => `node:${n.name}`),
  ];
  for (const from of sources)
    for (const to of state.pods.map((p) => `${p.namespace}/${p.name}`))
      for (const { port, protocol } of ports.values())
        if (from !== to) out.push({ from, to, port, protocol });
  return out;
}

describe('conformance scenarios through the API and back', () => {
  it.each(files)('%s: same verdicts on the API-derived state at every step', async (f) => {
    const sc = loadScenario(join(DIR, f));
    const states = [sc.initial, ...statesPerStep(sc.initial, sc.steps)];
    for (const [i, want] of states.entries()) {
      const got = await viaApi(want);
      expect(got.pods.length, `${f} state ${i}: pods`).toBe(want.pods.length);
      expect(got.policies.length, `${f} state ${i}: policies`).toBe(want.policies.length);
      const all = flows(want);
      expect(all.length).toBeGreaterThan(0);
      const differ = all
        .map((fl) => ({ fl, want: verdict(want, fl).allowed, got: verdict(got, fl).allowed }))
        .filter((x) => x.want !== x.got);
      expect(differ, `${f} state ${i}`).toEqual([]);
    }
  });
});
