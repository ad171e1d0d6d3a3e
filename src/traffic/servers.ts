// Starts one probe server per host (serving all its ports) and stops them again.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { HostName, Network } from '../platform/platform.ts';

export const PROBE_SERVER = fileURLToPath(new URL('./probe-server.mjs', import.meta.url));

export interface ServerSpec {
  host: HostName;
  tcp: number[];
  udp: number[];
}

export interface ProbeServers {
  readonly hosts: HostName[];
  stop(host?: HostName): Promise<void>;
}

function startOne(net: Network, spec: ServerSpec, timeoutMs: number): Promise<ChildProcess> {
  const child = net.spawn(spec.host, [process.execPath, PROBE_SERVER, JSON.stringify({ id: spec.host, tcp: spec.tcp, udp: spec.udp })]);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`probe server on ${spec.host} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(timer);
      if (l === 'ready') resolve(child);
      else reject(new Error(`probe server on ${spec.host}: ${l}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`probe server on ${spec.host} exited (${code}): ${stderr.trim()}`));
    });
  });
}

/** Starts servers, a few at a time (Node start-up is CPU-bound on a 2-core machine). */
export async function startProbeServers(net: Network, specs: ServerSpec[], opts: { parallel?: number; timeoutMs?: number } = {}): Promise<ProbeServers> {
  const running = new Map<HostName, ChildProcess>();
  const queue = specs.filter((s) => s.tcp.length + s.udp.length > 0);
  const stop = async (host?: HostName) => {
    const victims = [...running].filter(([h]) => host === undefined || h === host);
    await Promise.all(
      victims.map(([h, c]) => {
        running.delete(h);
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
      running.set(spec.host, await startOne(net, spec, opts.timeoutMs ?? 20_000));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 4, queue.length) }, worker));
  } catch (e) {
    await stop();
    throw e;
  }
  return { hosts: [...running.keys()], stop };
}
