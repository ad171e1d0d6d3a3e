// Mininet platform benchmark (root): topology up/down for 3 nodes × 10 and × 30 pods, probe-server start-up,
// a full 30×30 reachability probe of one TCP port, and RR latency with no enforcement (UDP and TCP, µs).
// Prints measured figures; run with `npx tsx bench/mininet.ts`.
import { cpus, loadavg } from 'node:os';
import { mininetPlatform } from '../src/platform/mininet/index.ts';
import { checkPrerequisites } from '../src/platform/prereq.ts';
import type { Network } from '../src/platform/platform.ts';
import { parseScenario } from '../src/scenario/load.ts';
import { probeReachability, type ProbeTarget } from '../src/traffic/reachability.ts';
import { runRr } from '../src/traffic/rr.ts';
import { startProbeServers } from '../src/traffic/servers.ts';

function scenario(podsPerNode: number) {
  const pods: string[] = [];
  for (let n = 1; n <= 3; n++)
    for (let k = 0; k < podsPerNode; k++)
      pods.push(
        `  - { namespace: x, name: p${n}-${k}, node: n${n}, ports: [{ port: 80 }, { port: 80, protocol: UDP }] }`,
      );
  const yaml = `name: bench\ntopology:\n  clusters:\n    - { name: c1, nodes: [{ name: n1 }, { name: n2 }, { name: n3 }] }\nnamespaces: [{ name: x }]\npods:\n${pods.join('\n')}\n`;
  return parseScenario(`bench-3x${podsPerNode}.yaml`, yaml);
}

const ms = (t0: number) => Math.round(performance.now() - t0);

async function timedUp(podsPerNode: number): Promise<{ net: Network; upMs: number }> {
  const s = scenario(podsPerNode);
  const t0 = performance.now();
  const net = await mininetPlatform.up(s.topology, s.initial.pods);
  return { net, upMs: ms(t0) };
}

async function main(): Promise<void> {
  await checkPrerequisites();
  // Figures on a shared 2-core machine depend on what else runs: print the load next to them.
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, ${cpus().length} CPUs`,
  );
  for (const per of [10, 30]) {
    const { net, upMs } = await timedUp(per);
    const t0 = performance.now();
    await net.down();
    console.log(
      `topology 3 nodes x ${per} pods/node (${3 * per} pods, ${net.hosts().length} hosts): up ${upMs} ms, down ${ms(t0)} ms`,
    );
  }

  const { net, upMs } = await timedUp(10);
  try {
    const pods = net.hosts().filter((h) => h.includes('/'));
    let t0 = performance.now();
    const servers = await startProbeServers(
      net,
      pods.map((host) => ({ host, tcp: [80], udp: [80] })),
    );
    console.log(`30 pods: up ${upMs} ms, ${pods.length} probe servers started in ${ms(t0)} ms`);
    const cells: ProbeTarget[] = pods.flatMap((from) =>
      pods
        .filter((to) => to !== from)
        .map((to) => ({ from, to, address: net.address(to), port: 80, protocol: 'TCP' as const })),
    );
    for (const via of ['probe servers as agents', 'agents', 'agents', 'one-shot client processes'] as const) {
      t0 = performance.now();
      const r = await probeReachability(
        net,
        cells,
        {},
        via === 'one-shot client processes' ? undefined : servers,
      );
      const reached = r.filter((c) => c.outcome === 'reached').length;
      console.log(
        `30x30 reachability probe, TCP 80, via ${via}: ${cells.length} cells in ${ms(t0)} ms (${reached} reached)`,
      );
    }
    const from = pods.find((p) => net.address(p).startsWith('10.1.1.'))!;
    const to = pods.find((p) => net.address(p).startsWith('10.1.2.'))!;
    for (const protocol of ['UDP', 'TCP'] as const) {
      const r = await runRr(net, {
        from,
        address: net.address(to),
        port: 80,
        protocol,
        requests: 20_000,
        warmup: 2_000,
      });
      console.log(
        `RR ${protocol} none ${from} -> ${to} (cross-node), 20000 requests after 2000 warm-up: p50 ${r.p50Us} µs, p90 ${r.p90Us} µs, p99 ${r.p99Us} µs, p99.9 ${r.p999Us} µs, lost ${r.lost}`,
      );
    }
    await servers.stop();
  } finally {
    await net.down();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
