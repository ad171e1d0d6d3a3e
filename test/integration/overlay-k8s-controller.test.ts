// The controller driving the real data path: the fake API server holds the cluster (namespaces, a SaP pod on
// node n1, the gateway, two injected workload pods, NetworkPolicies written through client-node), the
// controller watches it and pushes to real SaP and agent processes in network namespaces (over their unix
// sockets: the test process cannot reach addresses inside the namespaces), and TCP connections between the
// pods' overlay addresses show the verdicts flip as policies are created and deleted through the API.
// Prints the programming latency it measured (push → in force) and API write → verdict seen. Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, NetworkingV1Api, type V1NetworkPolicy } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { OverlayController } from '../../reference-impl/control-plane/k8s/controller.ts';
import { ROLE_LABEL } from '../../reference-impl/k8s/constants.ts';
import { injectOverlayAgent } from '../../reference-impl/k8s/inject.ts';
import { startFakeKube, type FakeKube, type KubeObject } from '../support/k8s-fake/server.ts';
import { Lab, waitApi } from './overlay-datapath-lab.ts';

const IPS: Record<string, string> = {
  'sap-n1': '10.77.0.1',
  gw: '10.77.0.3',
  a: '10.77.0.11',
  b: '10.77.0.12',
};
const lab = new Lab();
let kube: FakeKube;
let ctl: OverlayController;
const sockFor = (id: string) => lab.sock(id.replace(/[^a-z0-9]/gi, '_'));

async function connect(host: string, ip: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${ip}');s.setTimeout(700);s.on('connect',()=>{console.log('open');s.destroy()});s.on('timeout',()=>{console.log('timeout');s.destroy()});s.on('error',e=>console.log(e.code==='ECONNREFUSED'?'refused':e.code))`;
  return (await lab.exec(host, [process.execPath, '-e', js])).trim();
}

async function until<T>(
  what: string,
  f: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what} (last: ${JSON.stringify(v)}; ${JSON.stringify(ctl.status())})`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

const workload = (name: string) =>
  injectOverlayAgent({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'x', labels: { pod: name } },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'serve', image: 'agnhost', ports: [{ containerPort: 8080 }] }],
    },
  }) as never;

beforeAll(async () => {
  await lab.up();
  for (const [h, ip] of [
    ['sap', IPS['sap-n1']!],
    ['gw', IPS.gw!],
    ['a', IPS.a!],
    ['b', IPS.b!],
  ] as const)
    await lab.host(h, ip);
  lab.spawnTs('sap', 'reference-impl/sap/main.ts', ['--api', sockFor('node:n1')]);
  lab.spawnTs('gw', 'reference-impl/sap/main.ts', ['--api', sockFor('gw:c1')]);
  lab.spawnTs('a', 'reference-impl/agent/main.ts', ['--api', sockFor('x/a')]);
  lab.spawnTs('b', 'reference-impl/agent/main.ts', ['--api', sockFor('x/b')]);
  lab.spawn('b', [
    process.execPath,
    '-e',
    `require('net').createServer(s=>{s.on('error',()=>{});s.end('hi')}).listen(8080)`,
  ]);
  await Promise.all(['node:n1', 'gw:c1', 'x/a', 'x/b'].map((id) => waitApi(sockFor(id))));

  kube = await startFakeKube({
    assignPodIP: (o: KubeObject) => IPS[o.metadata.name!] ?? '10.77.0.99',
    assignHostIP: () => IPS['sap-n1']!,
  });
  const core = kube.kubeConfig().makeApiClient(CoreV1Api);
  for (const ns of ['ov', 'x']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedPod({
    namespace: 'ov',
    body: {
      metadata: { name: 'sap-n1', labels: { [ROLE_LABEL]: 'sap' } },
      spec: { nodeName: 'n1', containers: [{ name: 'sap', image: 'overlay' }] },
    },
  });
  await core.createNamespacedPod({
    namespace: 'ov',
    body: {
      metadata: { name: 'gw', labels: { [ROLE_LABEL]: 'gateway' } },
      spec: { nodeName: 'n1', containers: [{ name: 'gateway', image: 'overlay' }] },
    },
  });
  for (const p of ['a', 'b']) await core.createNamespacedPod({ namespace: 'x', body: workload(p) });
  ctl = new OverlayController(kube.kubeConfig(), {
    cluster: 'c1',
    namespace: 'ov',
    apiAddress: (t) => sockFor(t.id),
  });
  ctl.start();
  await until(
    'first version in force',
    () => ctl.status(),
    (s) => s.inForce,
  );
}, 90_000);

afterAll(async () => {
  await ctl?.stop();
  await kube?.close();
  await lab.cleanup();
});

describe('controller → real SaP and agents', () => {
  it('policies written through the API flip verdicts on the overlay', async () => {
    const ovB = ctl.status().overlayIps['x/b']!;
    expect(ovB).toMatch(/^100\./);
    // No policy: allowed through the overlay; the underlay address is closed by the guard.
    expect(
      await until(
        'a → b open',
        () => connect('a', ovB, 8080),
        (v) => v === 'open',
      ),
    ).toBe('open');
    expect(await connect('a', IPS.b!, 8080)).toBe('timeout');

    const net = kube.kubeConfig().makeApiClient(NetworkingV1Api);
    const deny: V1NetworkPolicy = {
      metadata: { name: 'deny', namespace: 'x' },
      spec: { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress'] },
    };
    const v0 = ctl.status().version;
    const t0 = performance.now();
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: deny });
    await until(
      'deny in force',
      () => ctl.status(),
      (s) => s.version > v0 && s.inForce,
    );
    const deny1 = ctl.status().last!;
    await until(
      'a → b denied',
      () => connect('a', ovB, 8080),
      (v) => v === 'timeout',
    );
    const flipDeny = performance.now() - t0;

    const t1 = performance.now();
    await net.deleteNamespacedNetworkPolicy({ namespace: 'x', name: 'deny' });
    await until(
      'a → b open again',
      () => connect('a', ovB, 8080),
      (v) => v === 'open',
    );
    const flipAllow = performance.now() - t1;
    const allow1 = ctl.status().last!;
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    console.log(
      `[overlay-k8s-controller] programming latency (push → in force): deny ${deny1.ms.toFixed(1)} ms, delete ${allow1.ms.toFixed(1)} ms; ` +
        `API event → in force: ${deny1.sinceEventMs.toFixed(1)} / ${allow1.sinceEventMs.toFixed(1)} ms; ` +
        `API write → verdict seen by a probe: ${flipDeny.toFixed(0)} / ${flipAllow.toFixed(0)} ms (probe resolution ~700 ms for deny, one connect for allow); loadavg ${load}`,
    );
  });
});
