// CRR (new TCP connection per request) and open-loop fixed-rate latency, as siblings of rr.ts: same probe
// servers, same shape of result (integer µs into an HDR histogram, warm-up dropped in the worker).
import { fileURLToPath } from 'node:url';
import {
  createHistogram,
  encodeHistogram,
  recordNs,
  summarize,
  type LatencySummary,
} from '../measure/histogram.ts';
import type { HostName, Network } from '../platform/platform.ts';

const CRR_WORKER = fileURLToPath(new URL('./crr-worker.mjs', import.meta.url));
const OPENLOOP_WORKER = fileURLToPath(new URL('./openloop-worker.mjs', import.meta.url));
const HTTP_CRR_WORKER = fileURLToPath(new URL('./http-crr-worker.mjs', import.meta.url));

export interface LatencyResult extends LatencySummary {
  lost: number;
  histogram: string;
  /** Open loop only: sends that left more than one interval after their intended time (generator lag). */
  lateSends?: number;
}

export interface CrrSpec {
  from: HostName;
  address: string;
  port: number;
  requests: number;
  warmup?: number;
  payloadBytes?: number;
  timeoutMs?: number;
}

export interface OpenLoopSpec extends CrrSpec {
  protocol: 'TCP' | 'UDP';
  /** Requests per second. */
  rate: number;
}

function toResult(stdout: string): LatencyResult {
  const out = JSON.parse(stdout) as { ns: number[]; lost: number; lateSends?: number; non2xx?: number };
  const h = createHistogram();
  for (const n of out.ns) recordNs(h, Math.max(0, n));
  return {
    lost: out.lost + (out.non2xx ?? 0),
    histogram: encodeHistogram(h),
    ...summarize(h),
    ...(out.lateSends !== undefined ? { lateSends: out.lateSends } : {}),
  };
}

export async function runCrr(net: Network, spec: CrrSpec): Promise<LatencyResult> {
  const args = {
    ip: spec.address,
    port: spec.port,
    requests: spec.requests,
    warmup: spec.warmup ?? Math.min(200, Math.ceil(spec.requests / 10)),
    payloadBytes: spec.payloadBytes ?? 64,
    timeoutMs: spec.timeoutMs ?? 1000,
  };
  const r = await net.exec(spec.from, [process.execPath, CRR_WORKER, JSON.stringify(args)], {
    timeoutMs: 30_000 + (args.requests + args.warmup) * 20,
  });
  if (r.code !== 0)
    throw new Error(
      `CRR from ${spec.from} to ${spec.address}:${spec.port} failed (${r.code}): ${r.stderr.trim()}`,
    );
  return toResult(r.stdout);
}

export async function runOpenLoop(net: Network, spec: OpenLoopSpec): Promise<LatencyResult> {
  const args = {
    ip: spec.address,
    port: spec.port,
    protocol: spec.protocol,
    rate: spec.rate,
    requests: spec.requests,
    warmup: spec.warmup ?? Math.min(1000, Math.ceil(spec.requests / 10)),
    payloadBytes: spec.payloadBytes ?? 64,
    timeoutMs: spec.timeoutMs ?? 500,
  };
  const seconds = (args.requests + args.warmup) / spec.rate;
  const r = await net.exec(spec.from, [process.execPath, OPENLOOP_WORKER, JSON.stringify(args)], {
    timeoutMs: 30_000 + seconds * 2000,
  });
  if (r.code !== 0)
    throw new Error(
      `open-loop ${spec.protocol} from ${spec.from} to ${spec.address}:${spec.port} failed (${r.code}): ${r.stderr.trim()}`,
    );
  return toResult(r.stdout);
}

/** HTTP CRR: one GET per new connection against an HTTP server (src/traffic/http-server.mjs) at the target. */
export async function runHttpCrr(net: Network, spec: CrrSpec & { path?: string }): Promise<LatencyResult> {
  const args = {
    ip: spec.address,
    port: spec.port,
    path: spec.path ?? '/',
    requests: spec.requests,
    warmup: spec.warmup ?? Math.min(200, Math.ceil(spec.requests / 10)),
    timeoutMs: spec.timeoutMs ?? 2000,
  };
  const r = await net.exec(spec.from, [process.execPath, HTTP_CRR_WORKER, JSON.stringify(args)], {
    timeoutMs: 30_000 + (args.requests + args.warmup) * 40,
  });
  if (r.code !== 0)
    throw new Error(
      `HTTP CRR from ${spec.from} to ${spec.address}:${spec.port} failed (${r.code}): ${r.stderr.trim()}`,
    );
  return toResult(r.stdout);
}
