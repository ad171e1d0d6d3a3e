// The fake API server, driven through the real @kubernetes/client-node 1.4 calls: if the client accepts these
// answers, code under test that uses the same calls sees the shapes a real API server sends.
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiException,
  CoreV1Api,
  Exec,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type V1NetworkPolicy,
  type V1Status,
} from '@kubernetes/client-node';
import { renderOverlayControlPlane } from '../../reference-impl/k8s/index.ts';
import { route } from '../support/k8s-fake/resources.ts';
import { startFakeKube, type FakeKube } from '../support/k8s-fake/server.ts';

const policy = (name: string, app = 'web'): V1NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, labels: { team: 'a' } },
  spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'] },
});

const pod = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  spec: { containers: [{ name: 'main', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53' }] },
});

async function apiError(p: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return e as ApiException<string>;
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** Collects watch events until `until` says stop (or the stream ends); rejects after 3 s. */
function collect(
  kube: FakeKube,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  until: (evs: string[]) => boolean,
) {
  const events: string[] = [];
  let ctl: AbortController | undefined;
  const done = new Promise<{ events: string[]; err: unknown }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`watch ${path}: only ${JSON.stringify(events)}`)), 3000);
    void new Watch(kube.kubeConfig())
      .watch(
        path,
        query,
        (type, obj: { metadata?: { name?: string }; code?: number }) => {
          events.push(type === 'ERROR' ? `ERROR:${obj.code}` : `${type}:${obj.metadata?.name ?? ''}`);
          if (until(events)) {
            clearTimeout(t);
            ctl?.abort();
            resolve({ events, err: undefined });
          }
        },
        (err) => {
          clearTimeout(t);
          resolve({ events, err });
        },
      )
      .then((c) => (ctl = c));
  });
  return done;
}

describe('fake Kubernetes API server through client-node', () => {
  let kube: FakeKube;
  let core: CoreV1Api;
  let net: NetworkingV1Api;
  beforeEach(async () => {
    kube = await startFakeKube();
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    net = kube.kubeConfig().makeApiClient(NetworkingV1Api);
    await core.createNamespace({ body: { metadata: { name: 'x', labels: { ns: 'x' } } } });
  });
  afterEach(async () => kube.close());

  it('namespaces: create adds the metadata-name label; 409 AlreadyExists with the real Status shape', async () => {
    const ns = await core.readNamespace({ name: 'x' });
    expect(ns.metadata?.labels).toEqual({ ns: 'x', 'kubernetes.io/metadata.name': 'x' });
    expect(ns.status?.phase).toBe('Active');
    const e = await apiError(core.createNamespace({ body: { metadata: { name: 'x' } } }));
    expect(e.code).toBe(409);
    expect(JSON.parse(e.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'namespaces "x" already exists',
      reason: 'AlreadyExists',
      details: { name: 'x', kind: 'namespaces' },
      code: 409,
    });
  });

  it('pods: create gets an IP and becomes Ready; list by labelSelector; merge patch of labels; 404 after delete', async () => {
    const created = await core.createNamespacedPod({ namespace: 'x', body: pod('a', { app: 'web' }) });
    expect(created.status?.podIP).toMatch(/^10\.244\./);
    expect(created.status?.phase).toBe('Running');
    expect(created.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    await core.createNamespacedPod({ namespace: 'x', body: pod('b', { app: 'db' }) });
    const web = await core.listNamespacedPod({ namespace: 'x', labelSelector: 'app in (web,api),!gone' });
    expect(web.items.map((p) => p.metadata?.name)).toEqual(['a']);
    const patched = await core.patchNamespacedPod(
      { namespace: 'x', name: 'b', body: { metadata: { labels: { app: 'web', tier: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({ app: 'web' });
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(
      Number(created.metadata?.resourceVersion),
    );
    expect(kube.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      path: '/api/v1/namespaces/x/pods/b',
    });
    await core.deleteNamespacedPod({ namespace: 'x', name: 'a' });
    const e = await apiError(core.readNamespacedPod({ namespace: 'x', name: 'a' }));
    expect(e.code).toBe(404);
    expect(JSON.parse(e.body)).toMatchObject({
      reason: 'NotFound',
      message: 'pods "a" not found',
      details: { name: 'a', kind: 'pods' },
    });
    expect(await apiError(core.createNamespacedPod({ namespace: 'nope', body: pod('c') }))).toMatchObject({
      code: 404,
    });
  });

  it('pods that are not auto-ready become Ready through the hook', async () => {
    const k2 = await startFakeKube({
      autoReady: false,
      assignPodIP: (p) => (p.metadata.name === 'a' ? '10.1.1.5' : '10.1.1.6'),
    });
    try {
      const c2 = k2.kubeConfig().makeApiClient(CoreV1Api);
      await c2.createNamespace({ body: { metadata: { name: 'x' } } });
      const p = await c2.createNamespacedPod({ namespace: 'x', body: pod('a') });
      expect(p.status?.phase).toBe('Pending');
      expect(p.status?.podIP).toBe('10.1.1.5');
      const ready = collect(
        k2,
        '/api/v1/namespaces/x/pods',
        { fieldSelector: 'metadata.name=a' },
        (ev) => ev.length === 2,
      );
      await new Promise((r) => setTimeout(r, 50));
      k2.store.setPodReady('x', 'a', true);
      expect((await ready).events).toEqual(['ADDED:a', 'MODIFIED:a']);
      expect((await c2.readNamespacedPodStatus({ namespace: 'x', name: 'a' })).status?.phase).toBe('Running');
    } finally {
      await k2.close();
    }
  });

  it('networkpolicies: create, get, list, replace (409 on stale resourceVersion), delete returns Status', async () => {
    const c = await net.createNamespacedNetworkPolicy({ namespace: 'x', body: policy('p1') });
    expect(c.metadata?.namespace).toBe('x');
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: policy('p2') });
    expect((await net.listNetworkPolicyForAllNamespaces()).items.map((p) => p.metadata?.name)).toEqual([
      'p1',
      'p2',
    ]);
    const r = await net.replaceNamespacedNetworkPolicy({
      namespace: 'x',
      name: 'p1',
      body: { ...c, spec: { podSelector: {} } },
    });
    expect(r.spec?.podSelector).toEqual({});
    const stale = await apiError(net.replaceNamespacedNetworkPolicy({ namespace: 'x', name: 'p1', body: c }));
    expect(stale.code).toBe(409);
    expect(JSON.parse(stale.body).reason).toBe('Conflict');
    const st: V1Status = await net.deleteNamespacedNetworkPolicy({ namespace: 'x', name: 'p1' });
    expect(st.status).toBe('Success');
    const bad = await apiError(
      net.createNamespacedNetworkPolicy({ namespace: 'x', body: { ...policy('p3'), spec: {} as never } }),
    );
    expect(bad.code).toBe(422);
    expect(JSON.parse(bad.body).reason).toBe('Invalid');
  });

  it('KubernetesObjectApi finds resources through API discovery', async () => {
    const obj = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
    await obj.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'p', namespace: 'x' },
      spec: { podSelector: {} },
    });
    await obj.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y' } });
    await obj.patch(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y', labels: { a: 'b' } } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    expect((await core.readNamespace({ name: 'y' })).metadata?.labels?.a).toBe('b');
    const paths = kube.requests.filter((r) => r.method === 'GET').map((r) => r.path);
    expect(paths).toContain('/apis/networking.k8s.io/v1');
    expect(paths).toContain('/api/v1');
    expect((await core.getAPIResources()).resources.map((r) => r.name)).toContain('pods/exec');
  });

  it('workloads and RBAC: the overlay components go in and out through KubernetesObjectApi; rollouts complete', async () => {
    const obj = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
    const objs = renderOverlayControlPlane({ namespace: 'ov', cluster: 'c1', prefix: 'tb1' });
    for (const o of objs) await obj.create(o);
    const dep = (await obj.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'overlay-control-plane', namespace: 'ov' },
    })) as {
      metadata: { generation: number };
      status: { availableReplicas: number; observedGeneration: number };
    };
    expect(dep.status).toMatchObject({ availableReplicas: 1, observedGeneration: 1 });
    await obj.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'overlay-sap', namespace: 'ov' },
        spec: { template: { metadata: { annotations: { restart: '1' } } } },
      } as never,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    const ds = kube.store.get('daemonsets', 'ov', 'overlay-sap');
    expect(ds.metadata.generation).toBe(2);
    expect(ds.status).toMatchObject({ observedGeneration: 2, numberReady: 1 });
    const paths = new Set(kube.requests.filter((r) => r.method === 'POST').map((r) => r.path));
    expect([...paths].sort()).toEqual([
      '/api/v1/namespaces',
      '/api/v1/namespaces/ov/serviceaccounts',
      '/api/v1/namespaces/ov/services',
      '/apis/apps/v1/namespaces/ov/daemonsets',
      '/apis/apps/v1/namespaces/ov/deployments',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    ]);
    for (const o of [...objs].reverse().filter((o) => o.kind.startsWith('Cluster'))) await obj.delete(o);
    await core.deleteNamespace({ name: 'ov' });
    expect(kube.store.list('deployments')).toEqual([]);
    expect(kube.store.list('clusterroles')).toEqual([]);
    expect(route('/apis/apps/v1/namespaces/ov/deployments/d/scale')).toEqual({
      resource: 'deployments',
      namespace: 'ov',
      name: 'd',
      sub: 'scale',
    });
    expect(route('/api/v1/namespaces/x/status')).toEqual({
      resource: 'namespaces',
      name: 'x',
      sub: 'status',
    });
    expect(route('/apis/apps/v1/deployments/d')).toBeUndefined();
    expect(route('/api/v1/nodes')).toBeUndefined();
    expect(await apiError(core.readNamespacedPodLog({ namespace: 'x', name: 'a' }))).toMatchObject({
      code: 404,
    });
  });

  it('watch: replays from a resourceVersion, selector moves become ADDED/DELETED, BOOKMARK, 410 after compaction', async () => {
    const a = await core.createNamespacedPod({ namespace: 'x', body: pod('a', { app: 'web' }) });
    const rv = a.metadata!.resourceVersion!;
    await core.createNamespacedPod({ namespace: 'x', body: pod('b', { app: 'web' }) });
    const w = collect(
      kube,
      '/api/v1/pods',
      { resourceVersion: rv, labelSelector: 'app=web', allowWatchBookmarks: true },
      (ev) => ev.length === 4,
    );
    await new Promise((r) => setTimeout(r, 50));
    await core.patchNamespacedPod(
      { namespace: 'x', name: 'a', body: { metadata: { labels: { app: 'db' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    kube.bookmark();
    await core.deleteNamespacedPod({ namespace: 'x', name: 'b' });
    // b's creation replays (ADDED, then MODIFIED when it became Ready), a leaves the selector, b is deleted.
    expect((await w).events).toEqual(['ADDED:b', 'MODIFIED:b', 'DELETED:a', 'BOOKMARK:']);
    kube.store.compact();
    const gone = await collect(kube, '/api/v1/namespaces/x/pods', { resourceVersion: rv }, () => false);
    expect(gone.events).toEqual(['ERROR:410']);
  });

  it('faults: dropped watches end the stream; injected failures answer with a Status; the log records both', async () => {
    const w = collect(kube, '/apis/networking.k8s.io/v1/networkpolicies', {}, () => false);
    await new Promise((r) => setTimeout(r, 50));
    expect(kube.openWatches()).toBe(1);
    kube.faults.dropWatches();
    expect((await w).err).toBeNull();
    kube.faults.failNext(2, 503, { method: 'GET', path: '/api/v1/namespaces' });
    expect((await apiError(core.listNamespace())).code).toBe(503);
    expect((await apiError(core.readNamespace({ name: 'x' }))).code).toBe(503);
    expect((await core.readNamespace({ name: 'x' })).metadata?.name).toBe('x');
    kube.faults.failNext(1, 500, { watch: true });
    const failed = await collect(kube, '/api/v1/pods', {}, () => false);
    expect((failed.err as { statusCode?: number }).statusCode).toBe(500);
    kube.faults.delay(120, { path: '/api/v1/namespaces/x' });
    const t0 = Date.now();
    await core.readNamespace({ name: 'x' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    expect(kube.requests.filter((r) => r.watch).map((r) => r.status)).toEqual([200, 500]);
  });

  it('exec: v4.channel.k8s.io frames, Success and NonZeroExitCode status, handler errors, unknown pods', async () => {
    await core.createNamespacedPod({ namespace: 'x', body: pod('a') });
    const seen: string[][] = [];
    kube.exec.handler = (ns, name, container, argv) => {
      seen.push([ns, name, container, ...argv]);
      if (argv[0] === 'boom') throw new Error('runtime: exec failed');
      return argv[0] === 'fail'
        ? { stderr: 'nope\n', code: 1 }
        : { stdout: `hello ${argv.slice(1).join(' ')}`, code: 0 };
    };
    const run = (argv: string[], podName = 'a') =>
      new Promise<{ out: string; err: string; status: V1Status; protocol: string }>((resolve, reject) => {
        const out = new PassThrough();
        const err = new PassThrough();
        let o = '';
        let e = '';
        out.on('data', (d: Buffer) => (o += d.toString()));
        err.on('data', (d: Buffer) => (e += d.toString()));
        let protocol = '';
        new Exec(kube.kubeConfig())
          .exec('x', podName, 'main', argv, out, err, null, false, (status) =>
            setImmediate(() => resolve({ out: o, err: e, status, protocol })),
          )
          .then((ws) => (protocol = ws.protocol), reject);
      });
    const ok = await run(['/agnhost', 'connect', '10.0.0.1:80']);
    expect(ok).toMatchObject({
      out: 'hello connect 10.0.0.1:80',
      status: { status: 'Success' },
      protocol: 'v4.channel.k8s.io',
    });
    const bad = await run(['fail']);
    expect(bad.err).toBe('nope\n');
    expect(bad.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '1' }] },
    });
    expect((await run(['boom'])).status).toMatchObject({
      status: 'Failure',
      reason: 'InternalError',
      message: 'runtime: exec failed',
    });
    expect(seen[0]).toEqual(['x', 'a', 'main', '/agnhost', 'connect', '10.0.0.1:80']);
    await expect(run(['x'], 'missing')).rejects.toThrow(/404/);
    expect(kube.requests.filter((r) => r.path.endsWith('/exec')).map((r) => r.status)).toEqual([
      101, 101, 101, 404,
    ]);
  });

  it('serves HTTPS with a self-signed certificate', async () => {
    const k2 = await startFakeKube({ tls: true });
    try {
      expect(k2.url).toMatch(/^https:/);
      const c2 = k2.kubeConfig().makeApiClient(CoreV1Api);
      await c2.createNamespace({ body: { metadata: { name: 's' } } });
      expect((await c2.listNamespace()).items.map((n) => n.metadata?.name)).toEqual(['s']);
    } finally {
      await k2.close();
    }
  });
});
