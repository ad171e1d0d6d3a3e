// sockperf ping-pong: the C, busy-polling reference floor for latency on a path. The server runs in the
// destination, the client in the source with --full-log, whose per-packet tx/rx times give full round trips
// for our µs histogram; sockperf's own percentiles (half round trip) are kept alongside for reference.
import { randomBytes } from 'node:crypto';
import {
  createHistogram,
  encodeHistogram,
  recordUs,
  summarize,
  type LatencySummary,
} from '../measure/histogram.ts';
import type { HostName, Network } from '../platform/platform.ts';

export interface SockperfSpec {
  from: HostName;
  to: HostName;
  address: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  seconds: number;
  payloadBytes?: number;
}

export interface SockperfResult extends LatencySummary {
  histogram: string;
  /** sockperf's own figures: half round trip, µs (e.g. p50Half, p99Half, avgHalf). */
  tool: Record<string, number>;
}

/** Parses sockperf's summary lines ("---> percentile 50.000 = 5.938", "avg-latency=20.204") (pure). */
export function parseSockperfSummary(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const clean = text.replace(/\x1b\[[0-9;]*m/g, '');
  for (const m of clean.matchAll(/---> percentile ([\d.]+) =\s*([\d.]+)/g)) {
    const p = Number(m[1]);
    const key = { 50: 'p50Half', 90: 'p90Half', 99: 'p99Half', 99.9: 'p999Half' }[p];
    if (key) out[key] = Number(m[2]);
  }
  const avg = /avg-latency=([\d.]+)/.exec(clean);
  if (avg) out.avgHalf = Number(avg[1]);
  return out;
}

/** Round trips in µs from a --full-log CSV ("packet, txTime(sec), rxTime(sec), latency(usec)") (pure). */
export function parseSockperfFullLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\d+,\s*([\d.]+),\s*([\d.]+)/.exec(line);
    if (!m) continue;
    const rtt = (Number(m[2]) - Number(m[1])) * 1e6;
    if (rtt > 0) out.push(rtt);
  }
  return out;
}

export async function runSockperf(net: Network, spec: SockperfSpec): Promise<SockperfResult> {
  // Debian 12's sockperf 3.7 parses -i as IPv4 only ("'-i' Invalid address: ::1", checked on this machine).
  if (spec.address.includes(':'))
    throw new Error(
      `sockperf ${spec.from} → ${spec.address}: sockperf 3.7 has no IPv6 support; measure IPv6 with udp-rr/tcp-rr instead`,
    );
  const proto = spec.protocol === 'TCP' ? ['--tcp'] : [];
  const server = net.spawn(spec.to, [
    'sockperf',
    'server',
    '-i',
    '0.0.0.0',
    '-p',
    String(spec.port),
    ...proto,
  ]);
  const exited = new Promise<void>((res) => server.once('exit', () => res()));
  const log = `/tmp/${net.prefix}-sockperf-${randomBytes(4).toString('hex')}.csv`;
  try {
    await new Promise((r) => setTimeout(r, 300));
    const argv = [
      'sockperf',
      'ping-pong',
      '-i',
      spec.address,
      '-p',
      String(spec.port),
      '-t',
      String(spec.seconds),
      '--full-log',
      log,
      ...proto,
    ];
    if (spec.payloadBytes) argv.push('-m', String(Math.max(14, spec.payloadBytes)));
    const r = await net.exec(spec.from, argv, { timeoutMs: (spec.seconds + 10) * 1000 });
    if (r.code !== 0)
      throw new Error(
        `sockperf ${spec.from} → ${spec.address}:${spec.port} failed (${r.code}): ${(r.stderr || r.stdout).trim().slice(-300)}`,
      );
    // The log is written by a process in the host's network namespace but on the shared file system.
    const cat = await net.exec(spec.from, ['cat', log]);
    const rtts = parseSockperfFullLog(cat.stdout);
    if (!rtts.length) throw new Error(`sockperf ${spec.from} → ${spec.address}: no samples in ${log}`);
    const h = createHistogram();
    for (const us of rtts) recordUs(h, us);
    return {
      histogram: encodeHistogram(h),
      ...summarize(h),
      tool: parseSockperfSummary(r.stdout + r.stderr),
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    await net.exec(spec.from, ['rm', '-f', log]).catch(() => undefined);
  }
}
