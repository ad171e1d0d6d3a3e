// One repetition of one measurement under the enforcer in force: picks the tool for the workload kind and
// returns the result-record fields it measured. Servers that must outlive a repetition (probe servers, HTTP
// servers) are started by the runner; per-run servers (iperf3, sockperf) by the tool wrappers.
import type { Enforcer } from '../enforce/enforcer.ts';
import type { Network } from '../platform/platform.ts';
import type { ResultRecord } from '../results/schema.ts';
import type { MeasurementSpec } from '../scenario/schema.ts';
import { runCrr, runHttpCrr, runOpenLoop } from '../traffic/crr.ts';
import { runHttp } from '../traffic/http.ts';
import { runIperf3 } from '../traffic/iperf3.ts';
import { runRr } from '../traffic/rr.ts';
import { runSockperf } from '../traffic/sockperf.ts';

export type Measured = Pick<ResultRecord, 'latency' | 'throughput' | 'errors' | 'tool' | 'rate' | 'note'>;

export interface Effort {
  requests: number;
  warmup: number;
  seconds: number;
}

/** Requests/warm-up/duration for a measurement; --quick caps them so the whole suite fits in two minutes. */
export function effortFor(m: MeasurementSpec, quick: boolean): Effort {
  const crr = m.kind === 'tcp-crr' || m.kind === 'http-crr';
  const defRequests = crr ? 2000 : m.kind === 'http' ? 5000 : 10000;
  const requests = Math.min(m.requests ?? defRequests, quick ? (crr ? 400 : 1500) : Infinity);
  const warmup = Math.min(m.warmup ?? Math.ceil(requests / 10), quick ? 300 : Infinity);
  const seconds = quick ? Math.min(m.durationSeconds ?? 1, 1) : (m.durationSeconds ?? 3);
  return { requests, warmup, seconds };
}

export async function measureOnce(
  net: Network,
  enforcer: Enforcer,
  m: MeasurementSpec,
  effort: Effort,
  portOffset = 0,
): Promise<Measured> {
  const address = enforcer.targetAddress(m.from, m.to, m.family);
  const latency = (
    r: {
      histogram: string;
      count: number;
      minUs: number;
      meanUs: number;
      p50Us: number;
      p90Us: number;
      p99Us: number;
      p999Us: number;
      maxUs: number;
    },
    tool?: Record<string, number>,
  ) => ({
    unit: 'us' as const,
    histogram: r.histogram,
    summary: {
      count: r.count,
      minUs: r.minUs,
      meanUs: r.meanUs,
      p50Us: r.p50Us,
      p90Us: r.p90Us,
      p99Us: r.p99Us,
      p999Us: r.p999Us,
      maxUs: r.maxUs,
    },
    ...(tool ? { tool } : {}),
  });
  const base = {
    from: m.from,
    address,
    port: m.port,
    requests: effort.requests,
    warmup: effort.warmup,
    payloadBytes: m.payloadBytes,
  };
  switch (m.kind) {
    case 'udp-rr':
    case 'tcp-rr': {
      const protocol = m.kind === 'udp-rr' ? 'UDP' : 'TCP';
      if (m.rate) {
        const r = await runOpenLoop(net, { ...base, protocol, rate: m.rate });
        return {
          latency: latency(r, r.lateSends !== undefined ? { lateSends: r.lateSends } : undefined),
          errors: r.lost,
          tool: 'openloop',
          rate: m.rate,
        };
      }
      const r = await runRr(net, { ...base, protocol });
      return { latency: latency(r), errors: r.lost, tool: 'rr' };
    }
    case 'tcp-crr': {
      const r = await runCrr(net, base);
      return { latency: latency(r), errors: r.lost, tool: 'crr' };
    }
    case 'http-crr': {
      const r = await runHttpCrr(net, base);
      return { latency: latency(r), errors: r.lost, tool: 'http-crr' };
    }
    case 'http': {
      const r = await runHttp(net, { ...base, connections: m.connections, rate: m.rate });
      return {
        latency: latency(r),
        throughput: { bitsPerSecond: 0, requestsPerSecond: r.requestsPerSecond },
        errors: r.errors,
        tool: 'autocannon',
        ...(m.rate ? { rate: m.rate } : {}),
      };
    }
    case 'iperf3': {
      // A fresh port per repetition: a server from an aborted repetition can never make the next one "busy".
      const r = await runIperf3(net, {
        from: m.from,
        to: m.to,
        address,
        port: m.port + portOffset,
        seconds: effort.seconds,
        streams: m.connections,
      });
      return {
        throughput: {
          bitsPerSecond: r.bitsPerSecond,
          retransmits: r.retransmits,
          ...(r.meanRttUs !== undefined ? { meanRttUs: r.meanRttUs } : {}),
        },
        errors: 0,
        tool: r.version ?? 'iperf3',
      };
    }
    case 'sockperf': {
      const r = await runSockperf(net, {
        from: m.from,
        to: m.to,
        address,
        port: m.port + portOffset,
        protocol: 'UDP',
        seconds: effort.seconds,
        payloadBytes: m.payloadBytes,
      });
      return { latency: latency(r, r.tool), errors: 0, tool: 'sockperf' };
    }
  }
}
