// iperf3 throughput between two hosts: a one-shot JSON server (`iperf3 -s -1 -J`) in the destination, the
// client (`iperf3 -c … -J -t N`) in the source. The JSON is parsed into typed figures; iperf3's own error
// strings become errors that say what happened (server busy, connection refused, timeout).
import type { HostName, Network } from '../platform/platform.ts';

export interface Iperf3Result {
  /** Receiver-side goodput (what arrived), bits/s. */
  bitsPerSecond: number;
  senderBitsPerSecond: number;
  retransmits: number;
  /** Sender's smoothed RTT estimate (kernel tcp_info), µs; absent when iperf3 did not report it. */
  meanRttUs?: number;
  seconds: number;
  version?: string;
}

export type Iperf3ErrorKind = 'busy' | 'refused' | 'timeout' | 'other';

export class Iperf3Error extends Error {
  constructor(
    readonly kind: Iperf3ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'Iperf3Error';
  }
}

export function classifyIperf3Error(msg: string): Iperf3ErrorKind {
  if (/busy/i.test(msg)) return 'busy';
  if (/refused/i.test(msg)) return 'refused';
  if (/time(d)? ?out|no route|unreachable/i.test(msg)) return 'timeout';
  return 'other';
}

/** Parses `iperf3 -c … -J` output (pure). */
export function parseIperf3Json(text: string): Iperf3Result {
  let d: {
    error?: string;
    start?: { version?: string };
    end?: {
      sum_sent?: { bits_per_second?: number; retransmits?: number; seconds?: number };
      sum_received?: { bits_per_second?: number; seconds?: number };
      streams?: { sender?: { mean_rtt?: number } }[];
    };
  };
  try {
    d = JSON.parse(text);
  } catch {
    throw new Iperf3Error('other', `iperf3 printed no JSON: ${text.trim().slice(0, 200) || '(empty)'}`);
  }
  if (d.error) throw new Iperf3Error(classifyIperf3Error(d.error), `iperf3: ${d.error}`);
  const sent = d.end?.sum_sent;
  const recv = d.end?.sum_received;
  if (!sent || !recv || typeof recv.bits_per_second !== 'number')
    throw new Iperf3Error('other', 'iperf3 JSON has no end.sum_sent/sum_received');
  const rtts = (d.end?.streams ?? [])
    .map((s) => s.sender?.mean_rtt)
    .filter((x): x is number => typeof x === 'number');
  return {
    bitsPerSecond: recv.bits_per_second,
    senderBitsPerSecond: sent.bits_per_second ?? recv.bits_per_second,
    retransmits: sent.retransmits ?? 0,
    ...(rtts.length ? { meanRttUs: rtts.reduce((a, b) => a + b, 0) / rtts.length } : {}),
    seconds: sent.seconds ?? recv.seconds ?? 0,
    ...(d.start?.version ? { version: d.start.version } : {}),
  };
}

export interface Iperf3Spec {
  from: HostName;
  to: HostName;
  /** Address the client connects to (platform or overlay address of `to`). */
  address: string;
  port: number;
  seconds: number;
  /** Parallel streams (-P). */
  streams?: number;
}

export async function runIperf3(net: Network, spec: Iperf3Spec): Promise<Iperf3Result> {
  const server = net.spawn(spec.to, ['iperf3', '-s', '-1', '-J', '-p', String(spec.port)]);
  let serverOut = '';
  server.stdout?.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr?.on('data', (d: Buffer) => (serverOut += d.toString()));
  const exited = new Promise<void>((res) => server.once('exit', () => res()));
  try {
    const argv = [
      'iperf3',
      '-c',
      spec.address,
      '-p',
      String(spec.port),
      '-J',
      '-t',
      String(spec.seconds),
      '--connect-timeout',
      '3000',
    ];
    if (spec.streams && spec.streams > 1) argv.push('-P', String(spec.streams));
    // The server needs a moment to listen; a refused connection right after spawning is retried.
    for (let attempt = 0; ; attempt++) {
      await new Promise((r) => setTimeout(r, attempt === 0 ? 150 : 300));
      const r = await net.exec(spec.from, argv, { timeoutMs: (spec.seconds + 10) * 1000 });
      if (r.code === 124)
        throw new Iperf3Error(
          'timeout',
          `iperf3 client ${spec.from} → ${spec.address}:${spec.port} did not finish within ${spec.seconds + 10} s`,
        );
      try {
        return parseIperf3Json(r.stdout);
      } catch (e) {
        if (e instanceof Iperf3Error && e.kind === 'refused' && attempt < 5 && server.exitCode === null)
          continue;
        if (e instanceof Iperf3Error)
          throw new Iperf3Error(e.kind, `${e.message} (${spec.from} → ${spec.address}:${spec.port})`);
        throw e;
      }
    }
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  }
}
