// RR latency probe: request/response over one connection between two hosts, in integer microseconds into an
// HDR histogram, warm-up discarded. The loop runs in a worker inside the source namespace (rr-worker.mjs);
// further modes (CRR, open loop) plug in as more workers behind the same RrSpec → RrResult shape.
import { fileURLToPath } from 'node:url';
import {
  createHistogram,
  encodeHistogram,
  recordNs,
  summarize,
  type LatencySummary,
} from '../measure/histogram.ts';
import type { HostName, Network } from '../platform/platform.ts';

export const RR_WORKER = fileURLToPath(new URL('./rr-worker.mjs', import.meta.url));

export interface RrSpec {
  from: HostName;
  /** Destination address (platform or overlay address); a probe server must listen on it. */
  address: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  requests: number;
  warmup?: number;
  payloadBytes?: number;
  /** Per-request timeout (UDP: counted as lost; TCP: connect/banner timeout). */
  timeoutMs?: number;
}

export interface RrResult extends LatencySummary {
  protocol: 'TCP' | 'UDP';
  lost: number;
  /** hdr-histogram-js compressed base64 of the latencies in µs. */
  histogram: string;
}

export async function runRr(net: Network, spec: RrSpec): Promise<RrResult> {
  const args = {
    ip: spec.address,
    port: spec.port,
    protocol: spec.protocol,
    requests: spec.requests,
    warmup: spec.warmup ?? Math.min(1000, Math.ceil(spec.requests / 10)),
    payloadBytes: spec.payloadBytes ?? 64,
    timeoutMs: spec.timeoutMs ?? 1000,
  };
  const budget = 30_000 + (args.requests + args.warmup) * 5;
  const r = await net.exec(spec.from, [process.execPath, RR_WORKER, JSON.stringify(args)], {
    timeoutMs: budget,
  });
  if (r.code !== 0)
    throw new Error(
      `RR ${spec.protocol} from ${spec.from} to ${spec.address}:${spec.port} failed (${r.code}): ${r.stderr.trim()}`,
    );
  const out = JSON.parse(r.stdout) as { ns: number[]; lost: number };
  const h = createHistogram();
  for (const ns of out.ns) recordNs(h, ns);
  return { protocol: spec.protocol, lost: out.lost, histogram: encodeHistogram(h), ...summarize(h) };
}
