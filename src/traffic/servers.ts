// Starts one probe server per host (serving all its ports) and stops them again.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface, type Interface } from 'node:readline';
import type { HostName, Network } from '../platform/platform.ts';

export const PROBE_SERVER = fileURLToPath(new URL('./probe-server.mjs', import.meta.url));

export interface ServerSpec {
  host: HostName;
  tcp: number[];
  udp: number[];
  /** TCP ports served as HTTP instead of the banner/echo protocol (HTTP probes). */
  http?: number[];
}

/** A running server also probes from its host on request (see probe-server.mjs). */
export interface ProbeAgent {
  probe<T>(req: Record<string, unknown>, timeoutMs: number): Promise<T[]>;
}

export interface ProbeServers {
  readonly hosts: HostName[];
  agent(host: HostName): ProbeAgent | undefined;
  stop(host?: HostName): Promise<void>;
}

function agentOf(child: ChildProcess, lines: Interface): ProbeAgent {
  const pending = new Map<number, (results: unknown[]) => void>();
  let seq = 0;
  // The first line ('ready') was consumed by startOne; later lines answer probe requests.
  lines.on('line', (l) => {
    if (!l.startsWith('{')) return;
    const msg = JSON.parse(l) as { seq: number; results: unknown[] };
    pending.get(msg.seq)?.(msg.results);
    pending.delete(msg.seq);
  });
  return {
    probe<T>(req: Record<string, unknown>, timeoutMs: number): Promise<T[]> {
      const id = ++seq;
      return new Promise<T[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`probe agent gave no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        const onExit = () => reject(new Error('probe agent exited'));
        child.once('exit', onExit);
        pending.set(id, (r) => {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(r as T[]);
        });
        child.stdin!.write(`${JSON.stringify({ ...req, seq: id })}\n`);
      });
    },
  };
}

function startOne(
  net: Network,
  spec: ServerSpec,
  timeoutMs: number,
): Promise<{ child: ChildProcess; lines: Interface }> {
  const child = net.spawn(spec.host, [
    process.execPath,
    PROBE_SERVER,
    JSON.stringify({ id: spec.host, tcp: spec.tcp, udp: spec.udp, http: spec.http ?? [] }),
  ]);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`probe server on ${spec.host} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (l) => {
      clearTimeout(timer);
      if (l === 'ready') resolve({ child, lines });
      else reject(new Error(`probe server on ${spec.host}: ${l}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`probe server on ${spec.host} exited (${code}): ${stderr.trim()}`));
    });
  });
}

/** Starts servers, a few at a time (Node start-up is CPU-bound on a 2-core machine). */
export async function startProbeServers(
  net: Network,
  specs: ServerSpec[],
  opts: { parallel?: number; timeoutMs?: number } = {},
): Promise<ProbeServers> {
  // Pods that carry their own servers (Kubernetes) need no processes started here.
  if (net.probe) return { hosts: [], agent: () => undefined, stop: async () => undefined };
  const running = new Map<HostName, ChildProcess>();
  const agents = new Map<HostName, ProbeAgent>();
  const queue = specs.filter((s) => s.tcp.length + s.udp.length + (s.http?.length ?? 0) > 0);
  const stop = async (host?: HostName) => {
    const victims = [...running].filter(([h]) => host === undefined || h === host);
    await Promise.all(
      victims.map(([h, c]) => {
        running.delete(h);
        agents.delete(h);
        if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
        const exited = new Promise<void>((res) => c.once('exit', () => res()));
        c.kill('SIGTERM');
        return exited;
      }),
    );
  };
  let next = 0;
  const worker = async () => {
    while (next < queue.length) {
      const spec = queue[next++]!;
      const { child, lines } = await startOne(net, spec, opts.timeoutMs ?? 20_000);
      running.set(spec.host, child);
      agents.set(spec.host, agentOf(child, lines));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 4, queue.length) }, worker));
  } catch (e) {
    await stop();
    throw e;
  }
  return { hosts: [...running.keys()], agent: (h) => agents.get(h), stop };
}
