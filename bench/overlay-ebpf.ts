// Kernel data path benchmark (mode overlay-ebpf): the same two-namespace lab as bench/overlay.ts (agents a, b and
// one SaP on one bridge, a direct pair c, d beside them), with agents and SaP as tc BPF programs. RR latency
// (sockperf ping-pong, UDP and TCP), TCP connect-request-response, and iperf3 TCP throughput with offload on
// (TSO/GSO through the encapsulation) and off. Direct and overlay interleaved. Root; own namespaces only.
//   sudo npx tsx bench/overlay-ebpf.ts [--seconds 5] [--reps 3]
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHistogram, recordUs, summarize, type Histogram } from '../src/measure/histogram.ts';
import { readIdleState } from '../src/measure/tuning.ts';
import { Lab, OVERLAY, startOverlay } from '../test/integration/overlay-datapath-lab.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const SECONDS = Number(opt('seconds', '5'));
const REPS = Number(opt('reps', '3'));
const DIRECT = { c: '10.77.0.21', d: '10.77.0.22' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rr(lab: Lab, host: string, ip: string, tcp: boolean, seconds: number, h?: Histogram) {
  const log = path.join(lab.dir, `rr-${host}-${tcp}.csv`);
  await lab.exec(host, [
    'sockperf',
    'pp',
    '-i',
    ip,
    '-p',
    tcp ? '11112' : '11111',
    '-t',
    String(seconds),
    '--full-rtt',
    '--full-log',
    log,
    ...(tcp ? ['--tcp'] : []),
  ]);
  if (!h) return;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /^\d+, [\d.]+, [\d.]+, ([\d.]+)$/.exec(line.trim());
    if (m) recordUs(h, Number(m[1]));
  }
}

/** TCP connect → 1 byte → echo → close, `n` times, from inside `host` (a small Node client run there). */
async function crr(lab: Lab, host: string, ip: string, n: number, h?: Histogram): Promise<void> {
  const client = `
const net = require('node:net');
const out = [];
let i = 0;
function one() {
  if (i++ >= ${n}) { process.stdout.write(out.join('\\n')); return; }
  const t0 = process.hrtime.bigint();
  const c = net.connect({ host: '${ip}', port: 8080, timeout: 2000 }, () => c.write('x'));
  c.on('timeout', () => { c.destroy(); setImmediate(one); });
  c.on('data', () => { out.push(Number(process.hrtime.bigint() - t0) / 1000); c.destroy(); setImmediate(one); });
  c.on('error', () => { c.destroy(); setImmediate(one); });
}
one();`;
  const r = await lab.exec(host, [process.execPath, '-e', client]);
  if (h) for (const l of r.split('\n')) if (l) recordUs(h, Number(l));
}

async function iperf(lab: Lab, host: string, ip: string, seconds: number): Promise<number> {
  const out = await lab.exec(host, ['iperf3', '-c', ip, '-p', '5201', '-t', String(seconds), '-J']);
  return (
    (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
      .bits_per_second / 1e9
  );
}

const fmt = (s: ReturnType<typeof summarize>) =>
  `p50 ${s.p50Us} µs  p90 ${s.p90Us}  p99 ${s.p99Us}  (n=${s.count})`;
const echo = `require('node:net').createServer((s) => s.on('data', (d) => s.end(d))).listen(8080)`;

async function latency(): Promise<void> {
  const lab = new Lab();
  try {
    await startOverlay(lab, 1500, undefined, [], true);
    await lab.host('c', DIRECT.c);
    await lab.host('d', DIRECT.d);
    for (const h of ['b', 'd']) {
      lab.spawn(h, ['sockperf', 'sr', '-i', '0.0.0.0', '-p', '11111']);
      lab.spawn(h, ['sockperf', 'sr', '--tcp', '-i', '0.0.0.0', '-p', '11112']);
      lab.spawn(h, [process.execPath, '-e', echo]);
    }
    await sleep(800);
    const hist: Record<string, Histogram> = {};
    for (const k of ['udp', 'tcp', 'crr'])
      for (const m of ['direct', 'ebpf']) hist[`${m}/${k}`] = createHistogram();
    for (const tcp of [false, true]) {
      await rr(lab, 'a', OVERLAY.b, tcp, 1);
      await rr(lab, 'c', DIRECT.d, tcp, 1);
    }
    await crr(lab, 'a', OVERLAY.b, 100);
    await crr(lab, 'c', DIRECT.d, 100);
    for (let r = 0; r < REPS; r++) {
      for (const tcp of [false, true]) {
        const p = tcp ? 'tcp' : 'udp';
        await rr(lab, 'c', DIRECT.d, tcp, SECONDS, hist[`direct/${p}`]);
        await rr(lab, 'a', OVERLAY.b, tcp, SECONDS, hist[`ebpf/${p}`]);
      }
      await crr(lab, 'c', DIRECT.d, 1000, hist['direct/crr']);
      await crr(lab, 'a', OVERLAY.b, 1000, hist['ebpf/crr']);
    }
    console.log(
      '\nRR / CRR latency, full round trip, µs (sockperf ping-pong; CRR: Node connect+1 byte+close):',
    );
    for (const p of ['udp', 'tcp', 'crr']) {
      const d = summarize(hist[`direct/${p}`]!);
      const o = summarize(hist[`ebpf/${p}`]!);
      console.log(`  ${p} direct       ${fmt(d)}`);
      console.log(`  ${p} overlay-ebpf ${fmt(o)}`);
      console.log(`  ${p} added        p50 ${o.p50Us - d.p50Us} µs  p99 ${o.p99Us - d.p99Us} µs`);
    }
  } finally {
    await lab.cleanup();
  }
}

async function throughput(offload: boolean): Promise<void> {
  const lab = new Lab();
  try {
    await startOverlay(lab, 1500, undefined, ['--offload', offload ? 'on' : 'off'], true);
    await lab.host('c', DIRECT.c);
    await lab.host('d', DIRECT.d);
    for (const h of ['b', 'd']) lab.spawn(h, ['iperf3', '-s', '-p', '5201']);
    await sleep(500);
    await iperf(lab, 'a', OVERLAY.b, 1);
    const direct: number[] = [];
    const ov: number[] = [];
    for (let r = 0; r < REPS; r++) {
      direct.push(await iperf(lab, 'c', DIRECT.d, SECONDS));
      ov.push(await iperf(lab, 'a', OVERLAY.b, SECONDS));
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const show = (xs: number[]) =>
      `median ${med(xs).toFixed(2)} Gbit/s [${xs.map((x) => x.toFixed(2)).join(', ')}]`;
    console.log(
      `\nTCP throughput, iperf3 ${SECONDS} s × ${REPS}, underlay MTU 1500, offload ${offload ? 'on (TSO/GSO)' : 'off'}:`,
    );
    console.log(`  direct        ${show(direct)}`);
    console.log(`  overlay-ebpf  ${show(ov)}`);
  } finally {
    await lab.cleanup();
  }
}

const idle = readIdleState();
console.log(
  `overlay-ebpf bench: ${os.cpus().length} × ${os.cpus()[0]?.model}, kernel ${os.release()}, ` +
    `cpuidle ${idle.driver}/${idle.governor} halt-poll ${idle.haltPollNs ?? 'n/a'} ns, load average ` +
    `${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (others' work skews every figure)`,
);
const only = opt('only', 'all');
if (only === 'all' || only === 'latency') await latency();
if (only === 'all' || only === 'throughput') {
  await throughput(true);
  await throughput(false);
}
