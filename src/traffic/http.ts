// HTTP request/response latency with autocannon against a small Node HTTP server in the destination host.
// autocannon runs inside the client's namespace (a worker script started there), and its per-response times
// go into our µs HDR histogram.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  createHistogram,
  encodeHistogram,
  recordUs,
  summarize,
  type LatencySummary,
} from '../measure/histogram.ts';
import type { HostName, Network } from '../platform/platform.ts';

const HTTP_SERVER = fileURLToPath(new URL('./http-server.mjs', import.meta.url));
const HTTP_WORKER = fileURLToPath(new URL('./http-worker.mjs', import.meta.url));

export interface HttpSpec {
  from: HostName;
  address: string;
  port: number;
  requests: number;
  warmup?: number;
  connections?: number;
  pipelining?: number;
  /**
   * Requests per second across all connections (autocannon overallRate); absent = as fast as possible.
   * autocannon times each response from its actual send, so a rate-limited HTTP run is NOT corrected for
   * coordinated omission; the CO-free open-loop figure is the UDP/TCP open-loop worker (crr.ts).
   */
  rate?: number;
}

export interface HttpResult extends LatencySummary {
  histogram: string;
  errors: number;
  requestsPerSecond: number;
}

export interface HttpServer {
  stop(): Promise<void>;
}

export async function startHttpServer(net: Network, host: HostName, port: number): Promise<HttpServer> {
  const child: ChildProcess = net.spawn(host, [process.execPath, HTTP_SERVER, JSON.stringify({ port })]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`HTTP server on ${host}:${port} not ready within 20 s`)),
      20_000,
    );
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(timer);
      if (l === 'ready') resolve();
      else reject(new Error(`HTTP server on ${host}: ${l}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`HTTP server on ${host}:${port} exited (${code}): ${stderr.trim()}`));
    });
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}

export async function runHttp(net: Network, spec: HttpSpec): Promise<HttpResult> {
  const args = {
    url: `http://${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.port}/`,
    connections: spec.connections ?? 1,
    pipelining: spec.pipelining ?? 1,
    requests: spec.requests,
    warmup: spec.warmup ?? Math.min(1000, Math.ceil(spec.requests / 10)),
    ...(spec.rate ? { rate: spec.rate } : {}),
  };
  const r = await net.exec(spec.from, [process.execPath, HTTP_WORKER, JSON.stringify(args)], {
    timeoutMs: 60_000 + (args.requests + args.warmup) * 5,
  });
  if (r.code !== 0)
    throw new Error(`HTTP load from ${spec.from} to ${args.url} failed (${r.code}): ${r.stderr.trim()}`);
  const out = JSON.parse(r.stdout) as { us: number[]; errors: number; non2xx: number; rps: number };
  if (out.us.length === 0)
    throw new Error(
      `HTTP load from ${spec.from} to ${args.url}: no successful responses (${out.errors} errors, ${out.non2xx} non-2xx)`,
    );
  const h = createHistogram();
  for (const us of out.us) recordUs(h, us);
  return {
    histogram: encodeHistogram(h),
    ...summarize(h),
    errors: out.errors + out.non2xx,
    requestsPerSecond: out.rps,
  };
}
