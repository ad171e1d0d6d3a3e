// A throw-away underlay for the overlay data path: one "switch" namespace with a bridge and one namespace per
// host, all named with a random run prefix and removed by cleanup(). Used by the integration test and the bench.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const pexec = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export class Lab {
  readonly prefix = `tbov${randomBytes(3).toString('hex')}`;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'tbov-'));
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private sw = '';

  ns(host: string): string {
    return `${this.prefix}${host}`;
  }

  async run(argv: string[], input?: string): Promise<string> {
    const p = pexec(argv[0]!, argv.slice(1), { maxBuffer: 64 << 20 });
    if (input !== undefined) p.child.stdin?.end(input);
    return (await p).stdout;
  }

  /** Runs argv inside host's namespace. */
  exec(host: string, argv: string[]): Promise<string> {
    return this.run(['ip', 'netns', 'exec', this.ns(host), ...argv]);
  }

  async up(mtu = 1500): Promise<void> {
    this.sw = this.ns('sw');
    await this.run(['ip', 'netns', 'add', this.sw]);
    this.namespaces.push(this.sw);
    await this.run(['ip', '-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge']);
    await this.run(['ip', '-n', this.sw, 'link', 'set', 'br0', 'mtu', String(mtu), 'up']);
    this.mtu = mtu;
  }
  private mtu = 1500;

  /** A host namespace with eth0 = ip/24 on the bridge. */
  async host(name: string, ip: string): Promise<void> {
    const ns = this.ns(name);
    await this.run(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.run([
      'ip',
      '-n',
      this.sw,
      'link',
      'add',
      `v${name}`,
      'mtu',
      String(this.mtu),
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'mtu',
      String(this.mtu),
      'netns',
      ns,
    ]);
    await this.run(['ip', '-n', this.sw, 'link', 'set', `v${name}`, 'master', 'br0', 'up']);
    await this.run(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await this.run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await this.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** Starts a TypeScript entry point (relative to the repo root) inside host's namespace. */
  spawnTs(host: string, entry: string, args: string[]): ChildProcess {
    // TBOV_PROF_DIR: CPU profiles of the data-path processes (written when they exit on SIGTERM).
    const prof = process.env.TBOV_PROF_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TBOV_PROF_DIR}`]
      : [];
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns(host),
        process.execPath,
        ...prof,
        '--import',
        'tsx',
        path.join(ROOT, entry),
        ...args,
        '--lifeline',
        'stdin',
      ],
      {
        cwd: ROOT,
        stdio: ['pipe', 'inherit', 'inherit'],
      },
    );
    this.procs.push(p);
    return p;
  }

  spawn(host: string, argv: string[], stdio: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.ns(host), ...argv], { stdio: ['ignore', stdio, stdio] });
    this.procs.push(p);
    return p;
  }

  sock(name: string): string {
    return path.join(this.dir, `${name}.sock`);
  }

  async cleanup(): Promise<void> {
    const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
    for (const p of this.procs) if (alive(p) && p.pid) process.kill(p.pid, 'SIGTERM');
    const end = Date.now() + 1500;
    while (this.procs.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null && p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    }
    for (const ns of this.namespaces.reverse()) await this.run(['ip', 'netns', 'del', ns]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

/** HTTP over the process's unix socket (the control API of ../../reference-impl/CONTRACT.md). */
export function api(
  socketPath: string,
  method: 'GET' | 'PUT',
  url: string,
  body?: unknown,
): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path: url, headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Waits until the process answers GET /status (or fails after timeoutMs). */
export async function waitApi(socketPath: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await api(socketPath, 'GET', '/status');
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function counters(socketPath: string): Promise<Record<string, number>> {
  return (await api(socketPath, 'GET', '/status')).body.counters as Record<string, number>;
}

export const UNDERLAY = { sap: '10.77.0.1', a: '10.77.0.11', b: '10.77.0.12', attacker: '10.77.0.66' };
export const OVERLAY = { cidr: '10.240.0.0/16', a: '10.240.1.11', b: '10.240.1.12' };
export const OVERLAY_ID = 7;
export const KEY = { epoch: 1, key: '00112233445566778899aabbccddeeff' };

/** Policy of pod b: ingress isolated, allowed from a on TCP 8080 and UDP 9000 only (default deny otherwise). */
export function sapConfig(version: number, opts: { isolateB?: boolean; mtu?: number } = {}) {
  return {
    version,
    sapId: 'sap1',
    overlayId: OVERLAY_ID,
    keys: [KEY],
    sendEpoch: KEY.epoch,
    listen: { ip: UNDERLAY.sap, port: 6080 },
    endpoints: [
      { overlayIp: OVERLAY.a, sap: 'sap1', agent: { ip: UNDERLAY.a, port: 6080 }, name: 'a' },
      {
        overlayIp: OVERLAY.b,
        sap: 'sap1',
        agent: { ip: UNDERLAY.b, port: 6080 },
        name: 'b',
        isolatedIngress: opts.isolateB ?? true,
        ingress: [
          {
            peers: [{ cidr: `${OVERLAY.a}/32` }],
            ports: [
              { protocol: 'TCP' as const, portFrom: 8080, portTo: 8080 },
              { protocol: 'UDP' as const, portFrom: 9000, portTo: 9000 },
              // The benchmark ports.
              { protocol: 'TCP' as const, portFrom: 5201, portTo: 5210 },
              { protocol: 'UDP' as const, portFrom: 5201, portTo: 5210 },
              { protocol: 'TCP' as const, portFrom: 11111, portTo: 11112 },
              { protocol: 'UDP' as const, portFrom: 11111, portTo: 11112 },
            ],
          },
        ],
      },
    ],
  };
}

export function agentConfig(version: number, pod: 'a' | 'b', mtu?: number) {
  return {
    version,
    overlayId: OVERLAY_ID,
    overlayIp: OVERLAY[pod],
    overlayCidr: OVERLAY.cidr,
    keys: [KEY],
    sendEpoch: KEY.epoch,
    listen: { ip: UNDERLAY[pod], port: 6080 },
    sap: { ip: UNDERLAY.sap, port: 6080 },
    ...(mtu ? { mtu } : {}),
  };
}

/** Underlay + SaP + agents a and b, configured and ready. */
export async function startOverlay(
  lab: Lab,
  underlayMtu = 1500,
  tunMtu?: number,
  agentArgs: string[] = [],
  /** The kernel data path (reference-impl/ebpf/) instead of the user-space processes. */
  ebpf = false,
): Promise<void> {
  await lab.up(underlayMtu);
  for (const h of ['sap', 'a', 'b', 'attacker'] as const) await lab.host(h, UNDERLAY[h]);
  const dir = ebpf ? 'reference-impl/ebpf' : '';
  const pins = (n: string) => (ebpf ? ['--bpf-dir', `/sys/fs/bpf/${lab.prefix}-${n}`] : []);
  lab.spawnTs('sap', ebpf ? `${dir}/sap-main.ts` : 'reference-impl/sap/main.ts', [
    '--api',
    lab.sock('sap'),
    ...pins('sap'),
  ]);
  for (const n of ['a', 'b'])
    lab.spawnTs(n, ebpf ? `${dir}/agent-main.ts` : 'reference-impl/agent/main.ts', [
      '--api',
      lab.sock(n),
      ...pins(n),
      ...agentArgs,
    ]);
  await Promise.all(['sap', 'a', 'b'].map((n) => waitApi(lab.sock(n))));
  const pushes = [
    api(lab.sock('sap'), 'PUT', '/config', sapConfig(1)),
    api(lab.sock('a'), 'PUT', '/config', agentConfig(1, 'a', tunMtu)),
    api(lab.sock('b'), 'PUT', '/config', agentConfig(1, 'b', tunMtu)),
  ];
  for (const r of await Promise.all(pushes)) {
    if (r.status !== 200 || r.body.applied !== true)
      throw new Error(`config push failed: ${JSON.stringify(r)}`);
  }
}
