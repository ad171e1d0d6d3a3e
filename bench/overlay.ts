// Overlay data-path benchmark (issue 4): RR latency (UDP, TCP) direct vs through the overlay (agent → SaP →
// agent) on the same bridge, and TCP throughput through the overlay with iperf3. Root; own namespaces only.
//   sudo npx tsx bench/overlay.ts [--seconds 5] [--reps 3] [--only latency|throughput] [--profile DIR] [--tune]
// --tune: guest halt-polling on for the run (src/measure/tuning.ts), restored at exit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHistogram, recordUs, summarize, type Histogram } from '../src/measure/histogram.ts';
import { defaultMtu } from '../reference-impl/agent/setup.ts';
import { readIdleState, tuneIdle } from '../src/measure/tuning.ts';
import {
  Lab,
  OVERLAY,
  UNDERLAY,
  agentConfig,
  api,
  startOverlay,
} from '../test/integration/overlay-datapath-lab.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const SECONDS = Number(opt('seconds', '5'));
const REPS = Number(opt('reps', '3'));
const DIRECT = { c: '10.77.0.21', d: '10.77.0.22' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function addDirectPair(lab: Lab): Promise<void> {
  await lab.host('c', DIRECT.c);
  await lab.host('d', DIRECT.d);
}

/** sockperf ping-pong for `seconds`; every round trip (after sockperf's own warm-up) into the histogram. */
async function rr(
  lab: Lab,
  host: string,
  ip: string,
  tcp: boolean,
  seconds: number,
  h?: Histogram,
): Promise<void> {
  const log = path.join(lab.dir, `rr-${host}-${tcp}.csv`);
  const port = tcp ? '11112' : '11111';
  await lab.exec(host, [
    'sockperf',
    'pp',
    '-i',
    ip,
    '-p',
    port,
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

async function iperf(lab: Lab, host: string, ip: string, seconds: number): Promise<number> {
  const out = await lab.exec(host, ['iperf3', '-c', ip, '-p', '5201', '-t', String(seconds), '-J']);
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

/** CPU time (ns, from schedstat) and packets handled by the data-path processes, to report CPU per packet. */
type Snap = Record<string, { cpuNs: number; pkts: number }>;
async function snap(lab: Lab): Promise<Snap> {
  const out: Snap = {};
  for (const n of ['a', 'sap', 'b']) {
    const st = (await api(lab.sock(n), 'GET', '/status')).body as {
      pid: number;
      counters: Record<string, number>;
    };
    const cpuNs = Number(readFileSync(`/proc/${st.pid}/schedstat`, 'utf8').split(' ')[0]);
    const c = st.counters;
    out[n] = { cpuNs, pkts: (c.rx ?? 0) + (c.tunRx ?? 0) };
  }
  return out;
}
function addDelta(acc: Snap, a: Snap, b: Snap): void {
  for (const k of Object.keys(b)) {
    const x = (acc[k] ??= { cpuNs: 0, pkts: 0 });
    x.cpuNs += b[k]!.cpuNs - a[k]!.cpuNs;
    x.pkts += b[k]!.pkts - a[k]!.pkts;
  }
}
const perPkt = (acc: Snap) =>
  Object.entries(acc)
    .map(([k, v]) => `${k} ${(v.cpuNs / 1000 / Math.max(1, v.pkts)).toFixed(1)} µs/pkt (${v.pkts} pkts)`)
    .join(', ');

const fmt = (s: ReturnType<typeof summarize>) =>
  `p50 ${s.p50Us} µs  p90 ${s.p90Us}  p99 ${s.p99Us}  p99.9 ${s.p999Us}  (n=${s.count})`;

async function latency(): Promise<void> {
  const lab = new Lab();
  try {
    await startOverlay(lab);
    await addDirectPair(lab);
    for (const h of ['b', 'd']) {
      lab.spawn(h, ['sockperf', 'sr', '-i', '0.0.0.0', '-p', '11111']);
      lab.spawn(h, ['sockperf', 'sr', '--tcp', '-i', '0.0.0.0', '-p', '11112']);
    }
    await sleep(500);
    const hist: Record<string, Histogram> = {};
    for (const proto of ['udp', 'tcp'])
      for (const mode of ['direct', 'overlay']) hist[`${mode}/${proto}`] = createHistogram();
    // Warm-up: JIT of the agents and the SaP, ARP, flow cache.
    for (const tcp of [false, true]) {
      await rr(lab, 'a', OVERLAY.b, tcp, 2);
      await rr(lab, 'c', DIRECT.d, tcp, 1);
    }
    const cpu: Snap = {};
    // Interleaved repetitions: direct, overlay, direct, overlay …
    for (let r = 0; r < REPS; r++) {
      for (const tcp of [false, true]) {
        const p = tcp ? 'tcp' : 'udp';
        await rr(lab, 'c', DIRECT.d, tcp, SECONDS, hist[`direct/${p}`]);
        const s0 = await snap(lab);
        await rr(lab, 'a', OVERLAY.b, tcp, SECONDS, hist[`overlay/${p}`]);
        addDelta(cpu, s0, await snap(lab));
      }
    }
    console.log('\nRR latency, full round trip, sockperf ping-pong, µs:');
    for (const p of ['udp', 'tcp']) {
      const d = summarize(hist[`direct/${p}`]!);
      const o = summarize(hist[`overlay/${p}`]!);
      console.log(`  ${p} direct   ${fmt(d)}`);
      console.log(`  ${p} overlay  ${fmt(o)}`);
      console.log(
        `  ${p} added    p50 ${o.p50Us - d.p50Us} µs (goal ≤ 50)  p99 ${o.p99Us - d.p99Us} µs (goal ≤ 200)`,
      );
    }
    console.log(`  CPU per packet handled (overlay RR runs): ${perPkt(cpu)}`);

    // Attribution: the same agents tunnelling straight to each other (no SaP, so no policy) show what the SaP
    // hop costs. Not a mode of the overlay, only a measurement.
    const direct = (pod: 'a' | 'b', peer: 'a' | 'b') => ({
      ...agentConfig(2, pod),
      sap: { ip: UNDERLAY[peer], port: 6080 },
    });
    await api(lab.sock('a'), 'PUT', '/config', direct('a', 'b'));
    await api(lab.sock('b'), 'PUT', '/config', direct('b', 'a'));
    const noSap: Record<string, Histogram> = { udp: createHistogram(), tcp: createHistogram() };
    for (const tcp of [false, true]) await rr(lab, 'a', OVERLAY.b, tcp, 1);
    for (let r = 0; r < REPS; r++) {
      for (const tcp of [false, true])
        await rr(lab, 'a', OVERLAY.b, tcp, SECONDS, noSap[tcp ? 'tcp' : 'udp']);
    }
    for (const p of ['udp', 'tcp']) {
      const n = summarize(noSap[p]!);
      const o = summarize(hist[`overlay/${p}`]!);
      console.log(
        `  ${p} agent→agent without SaP  ${fmt(n)}  → the SaP hop adds p50 ${o.p50Us - n.p50Us} µs`,
      );
    }

    // Floors for the SaP hop: the SaP replaced, at its address, by a bare relay that forwards without looking
    // (Node, then C). SaP − Node relay = the SaP's own work; Node relay − C relay = Node's I/O per hop.
    await api(lab.sock('a'), 'PUT', '/config', agentConfig(3, 'a'));
    await api(lab.sock('b'), 'PUT', '/config', agentConfig(3, 'b'));
    const sapPid = ((await api(lab.sock('sap'), 'GET', '/status')).body as { pid: number }).pid;
    process.kill(sapPid, 'SIGTERM');
    await sleep(500);
    const relayBin = path.join(lab.dir, 'relay');
    execFileSync('cc', ['-O2', '-o', relayBin, path.resolve('bench/floor/relay.c')]);
    const relayArgs = [UNDERLAY.sap, '6080', UNDERLAY.a, UNDERLAY.b];
    const o = summarize(hist['overlay/udp']!);
    for (const [name, argv] of [
      ['Node', [process.execPath, path.resolve('bench/floor/relay.mjs'), ...relayArgs]],
      ['C', [relayBin, ...relayArgs]],
    ] as const) {
      const relay = lab.spawn('sap', [...argv]);
      await sleep(700);
      const hr = createHistogram();
      await rr(lab, 'a', OVERLAY.b, false, 1);
      for (let r = 0; r < REPS; r++) await rr(lab, 'a', OVERLAY.b, false, SECONDS, hr);
      const n = summarize(hr);
      console.log(
        `  udp SaP replaced by a bare ${name} relay  ${fmt(n)}  → SaP minus ${name} relay: p50 ${o.p50Us - n.p50Us} µs`,
      );
      process.kill(relay.pid!, 'SIGTERM');
      await sleep(300);
    }
  } finally {
    await lab.cleanup();
  }
}

async function throughput(underlayMtu: number, offload: boolean): Promise<void> {
  const lab = new Lab();
  try {
    const tunMtu = defaultMtu(16, underlayMtu);
    await startOverlay(lab, underlayMtu, tunMtu, ['--offload', offload ? 'on' : 'off']);
    await addDirectPair(lab);
    for (const h of ['b', 'd']) lab.spawn(h, ['iperf3', '-s', '-p', '5201']);
    await sleep(500);
    await iperf(lab, 'a', OVERLAY.b, 1);
    const direct: number[] = [];
    const overlay: number[] = [];
    const cpu: Snap = {};
    for (let r = 0; r < REPS; r++) {
      direct.push(await iperf(lab, 'c', DIRECT.d, SECONDS));
      const s0 = await snap(lab);
      overlay.push(await iperf(lab, 'a', OVERLAY.b, SECONDS));
      addDelta(cpu, s0, await snap(lab));
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.log(
      `\nTCP throughput, iperf3 ${SECONDS} s × ${REPS}, underlay MTU ${underlayMtu}, TUN MTU ${tunMtu}, TSO offload ${offload ? 'on' : 'off'}:`,
    );
    console.log(
      `  direct   median ${med(direct).toFixed(2)} Gbit/s  [${direct.map((x) => x.toFixed(2)).join(', ')}]`,
    );
    console.log(
      `  overlay  median ${med(overlay).toFixed(2)} Gbit/s  [${overlay.map((x) => x.toFixed(2)).join(', ')}]  (goal ≥ 1)`,
    );
    console.log(`  CPU per packet handled: ${perPkt(cpu)}`);
  } finally {
    await lab.cleanup();
  }
}

if (argv.includes('--tune')) tuneIdle();
const idle = readIdleState();
console.log(
  `overlay bench: ${os.cpus().length} × ${os.cpus()[0]?.model}, kernel ${os.release()}, node ${process.version}, ` +
    `cpuidle ${idle.driver}/${idle.governor} halt-poll ${idle.haltPollNs ?? 'n/a'} ns${idle.tuned ? ' (--tune)' : ''}, ` +
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} (others' work skews every figure)`,
);
const profDir = opt('profile', '');
if (profDir) {
  mkdirSync(profDir, { recursive: true });
  process.env.TBOV_PROF_DIR = path.resolve(profDir);
}

/** Self time per function of the main-thread CPU profiles the data-path processes wrote on exit. */
function printProfiles(dir: string): void {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  for (const f of readdirSync(dir).filter((x) => /\.0\.\d+\.cpuprofile$/.test(x))) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
      nodes: Node[];
      samples: number[];
      timeDeltas: number[];
    };
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    const byFn = new Map<string, number>();
    let total = 0;
    for (const n of p.nodes) {
      const t = self.get(n.id) ?? 0;
      total += t;
      const k = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`;
      byFn.set(k, (byFn.get(k) ?? 0) + t);
    }
    const top = [...byFn].sort((x, y) => y[1] - x[1]).slice(0, 6);
    console.log(
      `  ${f}: ${top.map(([k, t]) => `${((100 * t) / total).toFixed(1)}% ${k.trim()}`).join('; ')}`,
    );
  }
}

const only = opt('only', 'all');
if (only === 'all' || only === 'latency') await latency();
if (only === 'all' || only === 'throughput') {
  await throughput(1500, true);
  await throughput(1500, false);
  await throughput(9000, true);
  await throughput(9000, false);
}
if (profDir) {
  console.log(`\nCPU profiles (self time, main thread) in ${profDir}:`);
  printProfiles(profDir);
}
