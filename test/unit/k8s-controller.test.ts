// The overlay control plane as a Kubernetes controller, against the fake API server through the real
// client-node code, pushing to real config-API servers (reference-impl/sap/api.ts serveApi on unix sockets)
// that record what they were sent. Checks the versions and contents pushed after each kind of API change, and
// recovery from dropped watches, 410 Gone, failing watches and invalid policies.
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { serveApi } from '../../reference-impl/sap/api.ts';
import { compileOverlay } from '../../reference-impl/control-plane/compile.ts';
import { OverlayController } from '../../reference-impl/control-plane/k8s/controller.ts';
import { backoffDelay } from '../../reference-impl/control-plane/k8s/reflector.ts';
import {
  desiredFromApi,
  desiredKey,
  policyFromApi,
  type ApiTarget,
} from '../../reference-impl/control-plane/k8s/state-from-api.ts';
import { MANAGED_LABEL, ROLE_LABEL } from '../../reference-impl/k8s/constants.ts';
import { injectOverlayAgent } from '../../reference-impl/k8s/inject.ts';
import type { ClusterState } from '../../src/policy/model.ts';
import { startFakeKube, type FakeKube, type KubeObject } from '../support/k8s-fake/server.ts';

interface Proc {
  server: http.Server;
  configs: { version: number; [k: string]: unknown }[];
}
type SapEndpoint = {
  name: string;
  overlayIp: string;
  agent?: unknown;
  isolatedIngress?: boolean;
  ingress?: { peers?: { cidr: string }[] }[];
};

const HOSTS: Record<string, string> = { n1: '172.18.0.2', n2: '172.18.0.3', n3: '172.18.0.4' };
const IPS: Record<string, string> = {
  a: '10.244.1.10',
  b: '10.244.2.10',
  c: '10.244.1.11',
  d: '10.244.2.11',
  gw: '10.244.9.9',
};

let dir = '';
let kube: FakeKube;
let core: CoreV1Api;
let net: NetworkingV1Api;
let ctl: OverlayController;
const procs = new Map<string, Proc>();
const log: Record<string, unknown>[] = [];
const sock = (id: string) => path.join(dir, `${id.replace(/[^a-z0-9]/gi, '_')}.sock`);
const address = (t: ApiTarget) => sock(t.id);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function proc(id: string): Promise<void> {
  const p: Proc = { server: undefined as never, configs: [] };
  p.server = await serveApi(sock(id), {
    version: () => p.configs.at(-1)?.version ?? 0,
    counters: () => ({}),
    apply: async (body) => {
      p.configs.push(body as Proc['configs'][number]);
    },
  });
  procs.set(id, p);
}

const last = (id: string) =>
  procs.get(id)!.configs.at(-1) as unknown as { version: number; endpoints: SapEndpoint[] };
const ep = (sap: string, name: string) => last(sap)?.endpoints.find((e) => e.name === name);

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(ctl.status())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const workload = (ns: string, name: string, node: string, labels: Record<string, string>) =>
  injectOverlayAgent({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: {
      nodeSelector: { 'testbed.io/node': node },
      containers: [{ name: 'serve-80-tcp', image: 'agnhost', ports: [{ containerPort: 80, name: 'http' }] }],
    },
  }) as never;

const component = (name: string, role: 'sap' | 'gateway', node: string) => ({
  metadata: { name, labels: { [ROLE_LABEL]: role } },
  spec: { nodeSelector: { 'testbed.io/node': node }, containers: [{ name: 'sap', image: 'overlay' }] },
});

const denyIngress = (ns: string, from?: V1NetworkPolicy['spec']): V1NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'p', namespace: ns },
  spec: from ?? { podSelector: {}, policyTypes: ['Ingress'] },
});

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-k8sctl-'));
  log.length = 0;
  kube = await startFakeKube({
    assignPodIP: (p: KubeObject) =>
      p.metadata.labels?.[ROLE_LABEL] === 'sap'
        ? HOSTS[p.spec!.nodeName as string]!
        : (IPS[p.metadata.name!] ?? '10.244.8.8'),
    assignHostIP: (p: KubeObject) => HOSTS[p.spec!.nodeName as string]!,
  });
  core = kube.kubeConfig().makeApiClient(CoreV1Api);
  net = kube.kubeConfig().makeApiClient(NetworkingV1Api);
  for (const id of ['node:n1', 'node:n2', 'gw:c1', 'x/a', 'x/b', 'y/c']) await proc(id);
  for (const [name, labels] of [
    ['ov', {}],
    ['x', { ns: 'x' }],
    ['y', { ns: 'y' }],
  ] as const)
    await core.createNamespace({ body: { metadata: { name, labels } } });
  await core.createNamespacedPod({ namespace: 'ov', body: component('sap-n1', 'sap', 'n1') });
  await core.createNamespacedPod({ namespace: 'ov', body: component('sap-n2', 'sap', 'n2') });
  await core.createNamespacedPod({ namespace: 'ov', body: component('gw', 'gateway', 'n1') });
  await core.createNamespacedPod({ namespace: 'x', body: workload('x', 'a', 'n1', { pod: 'a' }) });
  await core.createNamespacedPod({ namespace: 'x', body: workload('x', 'b', 'n2', { pod: 'b' }) });
  await core.createNamespacedPod({ namespace: 'y', body: workload('y', 'c', 'n1', { pod: 'c' }) });
  ctl = new OverlayController(kube.kubeConfig(), {
    cluster: 'c1',
    namespace: 'ov',
    debounceMs: 20,
    apiAddress: address,
    backoff: { initialMs: 20, maxMs: 200 },
    log: (e) => log.push(e),
  });
  ctl.start();
  await until('first version in force', () => ctl.status().inForce);
});

afterEach(async () => {
  await ctl.stop();
  await kube.close();
  for (const p of procs.values()) p.server.close();
  procs.clear();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('overlay controller against the fake API server', () => {
  it('first sync: every SaP, the gateway and every agent run version 1, with what compileOverlay makes of the API state', async () => {
    const st = ctl.status();
    expect(st.version).toBe(1);
    for (const id of procs.keys()) expect(last(id).version, id).toBe(1);
    const expected: ClusterState = {
      namespaces: [
        { name: 'ov', labels: { 'kubernetes.io/metadata.name': 'ov' } },
        { name: 'x', labels: { ns: 'x', 'kubernetes.io/metadata.name': 'x' } },
        { name: 'y', labels: { ns: 'y', 'kubernetes.io/metadata.name': 'y' } },
      ],
      pods: [
        {
          namespace: 'x',
          name: 'a',
          labels: { pod: 'a', [MANAGED_LABEL]: 'true' },
          node: 'n1',
          cluster: 'c1',
          ip: IPS.a!,
          ports: [{ port: 80, protocol: 'TCP', name: 'http' }],
        },
        {
          namespace: 'x',
          name: 'b',
          labels: { pod: 'b', [MANAGED_LABEL]: 'true' },
          node: 'n2',
          cluster: 'c1',
          ip: IPS.b!,
          ports: [{ port: 80, protocol: 'TCP', name: 'http' }],
        },
        {
          namespace: 'y',
          name: 'c',
          labels: { pod: 'c', [MANAGED_LABEL]: 'true' },
          node: 'n1',
          cluster: 'c1',
          ip: IPS.c!,
          ports: [{ port: 80, protocol: 'TCP', name: 'http' }],
        },
      ],
      nodes: [
        { name: 'n1', cluster: 'c1', ip: HOSTS.n1!, podCIDR: '' },
        { name: 'n2', cluster: 'c1', ip: HOSTS.n2!, podCIDR: '' },
      ],
      externals: [],
      policies: [],
    };
    const plan = compileOverlay(expected, {
      version: 1,
      keys: ctl.cp.keys,
      topology: { clusters: [{ name: 'c1', gateway: IPS.gw!, podCIDR: '', underlayCIDR: '', nodes: [] }] },
    });
    for (const s of plan.saps) expect(last(s.id), s.id).toEqual(JSON.parse(JSON.stringify(s.config)));
    for (const a of plan.agents) expect(last(a.ref), a.ref).toEqual(JSON.parse(JSON.stringify(a.config)));
    expect(st.last).toMatchObject({ version: 1, pushed: 6, pods: 3, policies: 0 });
    expect(st.overlayIps).toEqual(Object.fromEntries([...plan.overlayIps].sort()));
    expect(Object.keys(st.overlayIps)).toEqual(['x/a', 'x/b', 'y/c']);
    expect(st.last!.ms).toBeGreaterThan(0);
    expect(log.find((e) => e.event === 'inForce')).toMatchObject({ version: 1 });
  });

  it('policy created, updated, deleted → new SaP versions with the new rules; agents are not re-pushed', async () => {
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: denyIngress('x') });
    await until('v2', () => ctl.status().version === 2 && ctl.status().inForce);
    expect(ep('node:n1', 'x/a')).toMatchObject({ isolatedIngress: true, ingress: [] });
    expect(ep('node:n2', 'x/b')).toMatchObject({ isolatedIngress: true, ingress: [] });
    expect(ep('node:n1', 'y/c')).toMatchObject({ isolatedIngress: false });
    for (const a of ['x/a', 'x/b', 'y/c']) expect(procs.get(a)!.configs).toHaveLength(1);

    const cIp = ep('node:n1', 'y/c')!.overlayIp;
    await net.replaceNamespacedNetworkPolicy({
      namespace: 'x',
      name: 'p',
      body: denyIngress('x', {
        podSelector: {},
        ingress: [
          {
            _from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'c' } } },
            ],
          },
        ],
      }),
    });
    await until('v3', () => ctl.status().version === 3 && ctl.status().inForce);
    expect(ep('node:n1', 'x/a')!.ingress).toEqual([{ peers: [{ cidr: `${cIp}/32` }] }]);

    await net.deleteNamespacedNetworkPolicy({ namespace: 'x', name: 'p' });
    await until('v4', () => ctl.status().version === 4 && ctl.status().inForce);
    expect(ep('node:n1', 'x/a')).toMatchObject({ isolatedIngress: false });
    expect(last('node:n2').version).toBe(4);
  });

  it('namespace and pod label changes re-evaluate selectors', async () => {
    await net.createNamespacedNetworkPolicy({
      namespace: 'x',
      body: denyIngress('x', {
        podSelector: {},
        ingress: [
          {
            _from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'c' } } },
            ],
          },
        ],
      }),
    });
    await until('policy', () => (ep('node:n1', 'x/a')?.ingress?.length ?? 0) === 1);
    await ctl.idle();
    const v = ctl.status().version;
    await core.patchNamespace({ name: 'y', body: { metadata: { labels: { ns: 'z' } } } }, merge);
    await until('namespace relabelled', () => ctl.status().version === v + 1 && ctl.status().inForce);
    expect(ep('node:n1', 'x/a')!.ingress).toEqual([]);
    await core.patchNamespace({ name: 'y', body: { metadata: { labels: { ns: 'y' } } } }, merge);
    await until('namespace back', () => (ep('node:n1', 'x/a')?.ingress?.length ?? 0) === 1);
    await core.patchNamespacedPod(
      { namespace: 'y', name: 'c', body: { metadata: { labels: { pod: 'other' } } } },
      merge,
    );
    await until('pod relabelled', () => ep('node:n1', 'x/a')?.ingress?.length === 0 && ctl.status().inForce);
  });

  it('pods added and removed: the new agent is configured and every SaP learns (and forgets) the endpoint', async () => {
    await proc('x/d');
    await core.createNamespacedPod({ namespace: 'x', body: workload('x', 'd', 'n2', { pod: 'd' }) });
    await until(
      'x/d configured',
      () => last('x/d')?.version === ctl.status().version && ctl.status().inForce,
    );
    expect(ep('node:n2', 'x/d')?.agent).toBeDefined();
    expect(ep('node:n1', 'x/d')?.agent).toBeUndefined();
    expect(ep('node:n1', 'x/d')).toBeDefined();
    await core.deleteNamespacedPod({ namespace: 'x', name: 'b' });
    await until('x/b gone', () => ep('node:n1', 'x/b') === undefined && ep('node:n2', 'x/b') === undefined);
    // An unmanaged pod (no opt-in label) is never part of the overlay.
    await ctl.idle();
    const v = ctl.status().version;
    await core.createNamespacedPod({
      namespace: 'x',
      body: { metadata: { name: 'plain' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(ctl.status().version).toBe(v);
  });

  it('a dropped watch resumes from its resourceVersion; after compaction (410) the controller relists and converges', async () => {
    const before = ctl.reflectors.policies.stats.watches;
    kube.faults.dropWatches();
    await until('re-watch', () => ctl.reflectors.policies.stats.watches > before && kube.openWatches() === 4);
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: denyIngress('x') });
    await until('policy after re-watch', () => ep('node:n1', 'x/a')?.isolatedIngress === true);

    // Changes made while the watches are down, then history compacted: resuming is impossible (410).
    const lists = ctl.reflectors.policies.stats.lists;
    kube.faults.failNext(1000, 503, { watch: true });
    kube.faults.dropWatches();
    await net.deleteNamespacedNetworkPolicy({ namespace: 'x', name: 'p' });
    kube.store.compact();
    kube.faults.clear();
    await until(
      'relist after 410',
      () => ctl.reflectors.policies.stats.gone > 0 && ctl.reflectors.policies.stats.lists > lists,
    );
    await until('converged', () => ep('node:n1', 'x/a')?.isolatedIngress === false && ctl.status().inForce);
    expect(
      kube.requests.some(
        (r) => r.path === '/apis/networking.k8s.io/v1/networkpolicies' && !r.watch && r.method === 'GET',
      ),
    ).toBe(true);
  });

  it('a watch answered with HTTP 410 relists instead of backing off', async () => {
    const { lists, gone } = ctl.reflectors.namespaces.stats;
    kube.faults.failNext(1, 410, { watch: true, path: /^\/api\/v1\/namespaces$/ }, 'Expired');
    kube.faults.dropWatches();
    await until(
      'relisted',
      () =>
        ctl.reflectors.namespaces.stats.gone === gone + 1 &&
        ctl.reflectors.namespaces.stats.lists === lists + 1,
    );
    await core.patchNamespace({ name: 'x', body: { metadata: { labels: { team: 't' } } } }, merge);
    await net.createNamespacedNetworkPolicy({
      namespace: 'y',
      body: {
        ...denyIngress('y'),
        spec: {
          podSelector: {},
          ingress: [{ _from: [{ namespaceSelector: { matchLabels: { team: 't' } } }] }],
        },
      },
    });
    await until(
      'namespace label seen after relist',
      () => ep('node:n1', 'y/c')?.ingress?.[0]?.peers?.length === 2,
    );
  });

  it('failing watches back off and recover', async () => {
    kube.faults.failNext(4, 500, { watch: true, path: '/apis/networking.k8s.io' });
    kube.faults.dropWatches();
    await until('errors seen', () => ctl.reflectors.policies.stats.errors >= 4, 8000);
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: denyIngress('x') });
    await until('recovered', () => ep('node:n1', 'x/a')?.isolatedIngress === true, 8000);
    const failedWatches = kube.requests.filter((r) => r.watch && r.status === 500).length;
    expect(failedWatches).toBe(4);
    expect(log.some((e) => e.event === 'watchError')).toBe(true);
  });

  it('an invalid policy is reported and skipped; the valid ones are enforced', async () => {
    await net.createNamespacedNetworkPolicy({
      namespace: 'x',
      body: {
        ...denyIngress('x'),
        metadata: { name: 'bad', namespace: 'x' },
        spec: {
          podSelector: {},
          ingress: [{ _from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['192.168.0.0/24'] } }] }],
        },
      },
    });
    await net.createNamespacedNetworkPolicy({ namespace: 'y', body: denyIngress('y') });
    await until(
      'valid policy in force',
      () => ep('node:n1', 'y/c')?.isolatedIngress === true && ctl.status().inForce,
    );
    expect(ep('node:n1', 'x/a')?.isolatedIngress).toBe(false);
    expect(ctl.status().invalidPolicies).toEqual([
      {
        policy: 'x/bad',
        reason: 'spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/16',
      },
    ]);
    expect(log.filter((e) => e.event === 'invalidPolicy')).toHaveLength(1);
  });

  it('a burst of changes is debounced into few versions, with the final state', async () => {
    // A quiet window far above this machine's request times under load, so the test checks the debounce
    // logic, not the scheduler: a controller restarted with it adopts the running version first.
    await ctl.stop();
    ctl = new OverlayController(kube.kubeConfig(), {
      cluster: 'c1',
      namespace: 'ov',
      debounceMs: 500,
      maxDelayMs: 3000,
      apiAddress: address,
      log: (e) => log.push(e),
    });
    ctl.start();
    await until('restarted controller in force', () => ctl.status().inForce);
    await ctl.idle();
    const v = ctl.status().version;
    expect(v).toBeGreaterThanOrEqual(2);
    await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        core.patchNamespacedPod(
          {
            namespace: 'x',
            name: i % 2 ? 'b' : 'a',
            body: { metadata: { labels: { [i % 2 ? 'm' : 'n']: String(i) } } },
          },
          merge,
        ),
      ),
    );
    await core.patchNamespacedPod(
      { namespace: 'x', name: 'a', body: { metadata: { labels: { n: '5' } } } },
      merge,
    );
    await until('burst applied', () => ctl.status().inForce && ctl.status().version > v);
    await ctl.idle();
    expect(ctl.status().version - v).toBeLessThanOrEqual(2); // 7 events
    expect(ctl.status().last!.sinceEventMs).toBeGreaterThanOrEqual(ctl.status().last!.ms);
    // The last label is in force: a policy selecting n=5 isolates x/a.
    await net.createNamespacedNetworkPolicy({
      namespace: 'x',
      body: {
        ...denyIngress('x'),
        spec: { podSelector: { matchLabels: { n: '5' } }, policyTypes: ['Ingress'] },
      },
    });
    await until(
      'selected by final label',
      () => ep('node:n1', 'x/a')?.isolatedIngress === true && ep('node:n2', 'x/b')?.isolatedIngress === false,
    );
  });
});

describe('desired state from API objects (pure)', () => {
  const ready = [{ type: 'Ready', status: 'True' }];
  const pod = (name: string, node: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name, namespace: 'x', labels: { [MANAGED_LABEL]: 'true' } },
    spec: { nodeName: node, containers: [] },
    status: { phase: 'Running', podIP: IPS[name], hostIP: HOSTS[node], conditions: ready, ...extra },
  });
  const sap = (node: string) => ({
    metadata: { name: `sap-${node}`, namespace: 'ov', labels: { [ROLE_LABEL]: 'sap' } },
    spec: { nodeName: node },
    status: { podIP: HOSTS[node], hostIP: HOSTS[node], conditions: ready },
  });
  const gw = {
    metadata: { name: 'gw', namespace: 'ov', labels: { [ROLE_LABEL]: 'gateway' } },
    spec: { nodeName: 'n1' },
    status: { podIP: IPS.gw, conditions: ready },
  };
  const namespaces = [{ metadata: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } } }];

  it('skips pods it cannot serve yet, with the reason; waits for a gateway', () => {
    const d = desiredFromApi(
      {
        namespaces,
        components: [sap('n1'), gw],
        policies: [],
        pods: [
          pod('a', 'n1'),
          pod('b', 'n2'),
          pod('c', 'n1', { podIP: undefined }),
          {
            ...pod('d', 'n1'),
            status: {
              phase: 'Pending',
              podIP: IPS.d,
              conditions: [],
              initContainerStatuses: [{ name: 'overlay-agent', started: false }],
            },
          },
          {
            ...pod('a', 'n1'),
            metadata: {
              name: 'gone',
              namespace: 'x',
              labels: { [MANAGED_LABEL]: 'true' },
              deletionTimestamp: '2026-01-01T00:00:00Z',
            },
          },
        ],
      },
      { cluster: 'c1' },
    );
    expect(d.state.pods.map((p) => p.name)).toEqual(['a']);
    expect(d.skippedPods).toEqual([
      { pod: 'x/b', reason: 'node n2 has no ready SaP' },
      { pod: 'x/c', reason: 'no pod IP yet' },
      { pod: 'x/d', reason: 'overlay agent not started yet' },
    ]);
    expect([...d.targets]).toEqual([
      ['node:n1', 'tcp://172.18.0.2:9401'],
      ['x/a', 'tcp://10.244.1.10:9402'],
      ['gw:c1', 'tcp://10.244.9.9:9401'],
    ]);
    expect(d.waiting).toBeUndefined();
    expect(
      desiredFromApi({ namespaces, components: [sap('n1')], policies: [], pods: [] }, { cluster: 'c1' })
        .waiting,
    ).toMatch(/no ready gateway SaP/);
  });

  it('policies: typed-list `_from` and wire `from` mean the same; unknown fields are reasons, not crashes', () => {
    const spec = (rule: Record<string, unknown>) => ({
      metadata: { name: 'p', namespace: 'x' },
      spec: { podSelector: {}, ingress: [rule] },
    });
    const wire = policyFromApi(spec({ from: [{ podSelector: { matchLabels: { a: 'b' } } }] }));
    expect(policyFromApi(spec({ _from: [{ podSelector: { matchLabels: { a: 'b' } } }] }))).toEqual(wire);
    expect('policy' in wire && wire.policy.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { a: 'b' } } }] },
    ]);
    expect(policyFromApi(spec({ from: [{ serviceAccountSelector: {} }] }))).toEqual({
      reason: expect.stringMatching(/^spec\.ingress\[0\]\.from\[0\]: .*serviceAccountSelector/),
    });
  });

  it('the desired-state key ignores the order objects arrive in and changes with any label', () => {
    const snap = {
      namespaces,
      components: [sap('n1'), gw],
      policies: [],
      pods: [pod('a', 'n1'), pod('c', 'n1')],
    };
    const k = desiredKey(desiredFromApi(snap, { cluster: 'c1' }));
    expect(
      desiredKey(
        desiredFromApi(
          { ...snap, pods: [pod('c', 'n1'), pod('a', 'n1')], components: [gw, sap('n1')] },
          { cluster: 'c1' },
        ),
      ),
    ).toBe(k);
    const relabelled = pod('a', 'n1');
    relabelled.metadata.labels = { ...relabelled.metadata.labels, ...{ x: 'y' } };
    expect(
      desiredKey(desiredFromApi({ ...snap, pods: [relabelled, pod('c', 'n1')] }, { cluster: 'c1' })),
    ).not.toBe(k);
  });

  it('backoff doubles from its initial delay up to the cap', () => {
    expect([0, 1, 2, 3, 10, 60].map((a) => backoffDelay(a, 200, 5000))).toEqual([
      200, 400, 800, 1600, 5000, 5000,
    ]);
  });
});
