// Fast, clear failures for the Kubernetes platforms: the real CLI with a PATH holding only fakes (no kind, a
// Docker whose daemon is down or hangs) and an API server that is unreachable or denies permissions. Each
// must exit 2 with one line naming what is missing, well within 5 s.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/platform/kubernetes/client.ts';
import {
  checkClusterPrerequisites,
  checkKindPrerequisites,
  REQUIRED_ACCESS,
} from '../../src/platform/kubernetes/prereq.ts';
import { KubeConfig } from '@kubernetes/client-node';

const BASH = spawnSync('sh', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();

let bin: string;
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), 'tb-fakepath-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(BASH, join(bin, 'bash'));
  // bin/testbed itself needs dirname; the fakes below need sleep. Nothing else from the system is reachable.
  for (const tool of ['dirname', 'sleep']) {
    const at = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(at, join(bin, tool));
  }
});
afterEach(() => rmSync(bin, { recursive: true, force: true }));

function fake(name: string, script: string): void {
  writeFileSync(join(bin, name), `#!${BASH}\n${script}\n`);
  chmodSync(join(bin, name), 0o755);
}

function testbed(args: string[]): { code: number | null; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync('./bin/testbed', args, {
    encoding: 'utf8',
    env: { PATH: bin, HOME: bin },
    timeout: 20_000,
  });
  return { code: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('testbed run --platform kind, prerequisites', () => {
  it('no kind on PATH: exit 2, says to install kind', () => {
    const r = testbed(['run', 'scenarios/examples/minimal.yaml', '--platform', 'kind']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /needs the kind CLI .*not found on PATH: install it from https:\/\/kind\.sigs\.k8s\.io/,
    );
  });

  it('kind present, Docker daemon down: exit 2, names docker info and says to start Docker', () => {
    fake('kind', 'echo "kind v0.27.0 go1.23.4 linux/amd64"');
    fake(
      'docker',
      'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1',
    );
    const r = testbed(['run', 'scenarios/examples/minimal.yaml', '--platform', 'kind']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /needs a running container engine \('docker info' failed: Cannot connect to the Docker daemon.*\): start Docker/,
    );
  });

  it('a docker that hangs is given up on within the limit', async () => {
    fake('kind', 'echo "kind v0.27.0 go1.23.4 linux/amd64"');
    fake('docker', 'sleep 30');
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      const t0 = Date.now();
      await expect(checkKindPrerequisites({ cni: 'kindnet' })).rejects.toThrow(
        /'docker info' gave no answer within 4 s/,
      );
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      process.env.PATH = path;
    }
  }, 10_000);

  // The rest in-process (each CLI start costs seconds on a loaded 2-core machine).
  async function withPath<T>(fn: () => Promise<T>): Promise<T> {
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      return await fn();
    } finally {
      process.env.PATH = path;
    }
  }

  it('old kind with kindnet: refused (its kindnet does not enforce)', async () => {
    fake('kind', 'echo "kind v0.20.0 go1.20 linux/amd64"');
    fake('docker', 'echo 27.0.1');
    await withPath(() =>
      expect(checkKindPrerequisites({ cni: 'kindnet' })).rejects.toThrow(
        /kind v0\.20\.0 ships a kindnet without NetworkPolicy support/,
      ),
    );
    await withPath(() =>
      expect(checkKindPrerequisites({ cni: 'calico' })).rejects.toThrow(/kubectl not found/),
    );
  });

  it('calico without kubectl / cilium without helm: named; all present: passes with the kind version', async () => {
    fake('kind', 'echo "kind v0.27.0"');
    fake('docker', 'echo 27.0.1');
    await withPath(() =>
      expect(checkKindPrerequisites({ cni: 'calico' })).rejects.toThrow(
        /--cni calico is installed with kubectl: kubectl not found on PATH/,
      ),
    );
    fake('kubectl', 'exit 0');
    await withPath(() =>
      expect(checkKindPrerequisites({ cni: 'cilium' })).rejects.toThrow(/helm not found on PATH/),
    );
    fake('helm', 'exit 0');
    expect(await withPath(() => checkKindPrerequisites({ cni: 'cilium' }))).toEqual({
      kindVersion: 'v0.27.0',
    });
  });

  it('bad flags are usage errors', async () => {
    const { run } = await import('../../src/commands/run.ts');
    await expect(
      run(['scenarios/examples/minimal.yaml', '--platform', 'kind', '--cni', 'flannel']),
    ).rejects.toThrow(/unknown --cni 'flannel'/);
    await expect(run(['scenarios/examples/minimal.yaml', '--cni', 'calico'])).rejects.toThrow(
      /--cni applies to --platform kind only/,
    );
    await expect(
      run(['scenarios/examples/minimal.yaml', '--platform', 'kind', '--cni', 'calico', '--modes', 'overlay']),
    ).rejects.toThrow(/mode overlay on kind needs --cni kindnet/);
  });
});

describe('--platform kubernetes, prerequisites', () => {
  it('no kubeconfig: exit 2, says to pass --kubeconfig', () => {
    const r = testbed([
      'run',
      'scenarios/examples/minimal.yaml',
      '--platform',
      'kubernetes',
      '--kubeconfig',
      join(bin, 'missing'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot load the kubeconfig .*missing.*pass --kubeconfig FILE/);
  });

  it('unreachable API server: exit 2 within 5 s, names the server', () => {
    const kc = join(bin, 'kc.yaml');
    // 127.0.0.1:9 (discard): nothing listens, the connection is refused at once
    writeFileSync(
      kc,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    );
    const r = testbed([
      'run',
      'scenarios/examples/minimal.yaml',
      '--platform',
      'kubernetes',
      '--kubeconfig',
      kc,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the API server https:\/\/127\.0\.0\.1:9 is unreachable/);
    expect(r.ms).toBeLessThan(5000 + 3000); // the CLI's own start-up (tsx) on a loaded 2-core machine on top
  });

  it('an API server that accepts and never answers is given up on', async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser(
        {
          name: 'c',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
        { name: 'u' },
      );
      const t0 = Date.now();
      await expect(checkClusterPrerequisites({ client: new KubeClient(kc) })).rejects.toThrow(
        /unreachable \(API server .*: no answer within 4000 ms\)/,
      );
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 10_000);

  it('missing RBAC: names every denied permission (SelfSubjectAccessReview)', async () => {
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/version')
          return res.end(JSON.stringify({ gitVersion: 'v1.31.0', major: '1', minor: '31' }));
        if (req.url?.startsWith('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')) {
          const r = JSON.parse(body) as {
            spec: { resourceAttributes: { verb: string; resource: string; subresource?: string } };
          };
          const a = r.spec.resourceAttributes;
          asked.push(`${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}`);
          const allowed =
            !(a.resource === 'pods' && a.subresource === 'exec') && a.resource !== 'networkpolicies';
          return res.end(JSON.stringify({ ...r, status: { allowed } }));
        }
        res.statusCode = 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser(
        {
          name: 'c',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
        { name: 'u' },
      );
      await expect(checkClusterPrerequisites({ client: new KubeClient(kc) })).rejects.toThrow(
        /missing RBAC on .*: create pods\/exec, create networkpolicies, update networkpolicies, delete networkpolicies; ask for a role/,
      );
      expect(asked).toHaveLength(REQUIRED_ACCESS.length);
    } finally {
      server.close();
    }
  });
});
