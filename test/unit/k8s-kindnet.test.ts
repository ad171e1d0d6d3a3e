// Switching kindnet's NetworkPolicy controller off for mode overlay: the request the client sends (a JSON
// patch of kube-system/kindnet adding --network-policy=false), against a minimal apps/v1 endpoint, since the
// shared fake serves only core and networking. Whether kindnetd honours it was never run live (README).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, expect, it } from 'vitest';
import { KubeClient } from '../../src/platform/kubernetes/client.ts';

let server: http.Server | undefined;
afterEach(() => server?.close());

async function appsServer(
  ds: object,
): Promise<{ client: KubeClient; patches: { type?: string; body: unknown }[] }> {
  const patches: { type?: string; body: unknown }[] = [];
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/apis/apps/v1/namespaces/kube-system/daemonsets/kindnet')) {
        if (req.method === 'PATCH')
          patches.push({ type: req.headers['content-type'], body: JSON.parse(body) });
        return res.end(JSON.stringify(ds));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    { name: 'u' },
  );
  return { client: new KubeClient(kc), patches };
}

const ds = (container: object) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'kindnet', namespace: 'kube-system' },
  spec: {
    selector: { matchLabels: { app: 'kindnet' } },
    template: { metadata: { labels: { app: 'kindnet' } }, spec: { containers: [container] } },
  },
});

it('adds --network-policy=false to kindnetd (command given: appended)', async () => {
  const { client, patches } = await appsServer(
    ds({ name: 'kindnet-cni', image: 'kindest/kindnetd:v20250214', command: ['/bin/kindnetd'] }),
  );
  expect(await client.disableKindnetPolicy()).toBe(true);
  expect(patches).toEqual([
    {
      type: 'application/json-patch+json',
      body: [
        {
          op: 'replace',
          path: '/spec/template/spec/containers/0/command',
          value: ['/bin/kindnetd', '--network-policy=false'],
        },
      ],
    },
  ]);
});

it('no command in the manifest: sets the image entrypoint explicitly; already off: no patch; not kindnet: false', async () => {
  let s = await appsServer(ds({ name: 'kindnet-cni', image: 'kindest/kindnetd:v20250214' }));
  expect(await s.client.disableKindnetPolicy()).toBe(true);
  expect(s.patches[0]!.body).toEqual([
    {
      op: 'add',
      path: '/spec/template/spec/containers/0/command',
      value: ['/bin/kindnetd', '--network-policy=false'],
    },
  ]);
  server!.close();
  s = await appsServer(ds({ name: 'kindnet-cni', image: 'x', args: ['--network-policy=false'] }));
  expect(await s.client.disableKindnetPolicy()).toBe(true);
  expect(s.patches).toEqual([]);
  server!.close();
  s = await appsServer(ds({ name: 'something-else', image: 'x' }));
  expect(await s.client.disableKindnetPolicy()).toBe(false);
});
