// The controller as a process (control-plane/k8s/main.ts) against the fake API server: kubeconfig loading,
// health and status endpoints, a clear exit 2 on bad invocation, clean exit on SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { ROLE_LABEL } from '../../reference-impl/k8s/constants.ts';
import { startFakeKube, type FakeKube } from '../support/k8s-fake/server.ts';

const MAIN = new URL('../../reference-impl/control-plane/k8s/main.ts', import.meta.url).pathname;
let kube: FakeKube | undefined;
let child: ChildProcess | undefined;
let dir = '';

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await kube?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('control-plane/k8s/main.ts', () => {
  it('exits 2 naming what is missing', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, '--namespace', 'ov'], {
      encoding: 'utf8',
      env: { ...process.env, KUBERNETES_SERVICE_HOST: '' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--cluster is required/);
    const r2 = spawnSync(
      process.execPath,
      ['--import', 'tsx', MAIN, '--cluster', 'c1', '--namespace', 'ov'],
      { encoding: 'utf8', env: { ...process.env, KUBERNETES_SERVICE_HOST: '' } },
    );
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/no --kubeconfig given/);
  });

  it('serves /healthz and /status once its watches synced, reports what it waits for, exits 0 on SIGTERM', async () => {
    kube = await startFakeKube();
    const core = kube.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'ov' } } });
    await core.createNamespacedPod({
      namespace: 'ov',
      body: {
        metadata: { name: 'sap-n1', labels: { [ROLE_LABEL]: 'sap' } },
        spec: { nodeName: 'n1', containers: [{ name: 'sap', image: 'i' }] },
      },
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-k8smain-'));
    const cfg = path.join(dir, 'kubeconfig');
    fs.writeFileSync(cfg, kube.kubeConfig().exportConfig());
    kube.clearLog();
    child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, '--cluster', 'c1', '--namespace', 'ov', '--port', '0', '--kubeconfig', cfg],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = createInterface(child.stdout!);
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no listening line within 20 s')), 20_000);
      lines.on('line', (l) => {
        const e = JSON.parse(l) as { event: string; port?: number };
        if (e.event === 'listening') {
          clearTimeout(t);
          resolve(e.port!);
        }
      });
    });
    let health = 0;
    for (let i = 0; i < 200 && health !== 200; i++) {
      health = (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
      if (health !== 200) await new Promise((r) => setTimeout(r, 25));
    }
    expect(health).toBe(200);
    let st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
      synced: boolean;
      waiting?: string;
      watches: Record<string, { lists: number }>;
    };
    for (let i = 0; i < 100 && !st.waiting; i++) {
      await new Promise((r) => setTimeout(r, 25));
      st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as typeof st;
    }
    expect(st.synced).toBe(true);
    expect(st.waiting).toMatch(/no ready gateway SaP/);
    expect(Object.keys(st.watches).sort()).toEqual(['components', 'namespaces', 'pods', 'policies']);
    // The controller's requests: lists and watches of exactly the four resources, nothing else.
    const paths = new Set(kube.requests.map((r) => `${r.watch ? 'WATCH' : r.method} ${r.path}`));
    expect([...paths].sort()).toEqual([
      'GET /api/v1/namespaces',
      'GET /api/v1/namespaces/ov/pods',
      'GET /api/v1/pods',
      'GET /apis/networking.k8s.io/v1/networkpolicies',
      'WATCH /api/v1/namespaces',
      'WATCH /api/v1/namespaces/ov/pods',
      'WATCH /api/v1/pods',
      'WATCH /apis/networking.k8s.io/v1/networkpolicies',
    ]);
    const code = new Promise<number | null>((r) => child!.on('exit', (c) => r(c)));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
  });
});
