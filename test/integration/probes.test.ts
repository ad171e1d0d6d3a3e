// Probe servers, the reachability probe and the RR latency probe on a real two-cluster Mininet topology.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHistogram } from '../../src/measure/histogram.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import type { Network } from '../../src/platform/platform.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { probeReachability, type ProbeTarget } from '../../src/traffic/reachability.ts';
import { runRr } from '../../src/traffic/rr.ts';
import { startProbeServers, type ProbeServers } from '../../src/traffic/servers.ts';

const s = parseScenario(
  'probes.yaml',
  `
name: probes
topology:
  clusters:
    - { name: c1, nodes: [{ name: n1 }, { name: n2 }] }
    - { name: c2, nodes: [{ name: m1 }] }
  externals: [{ name: web }]
namespaces: [{ name: x }, { name: y }]
pods:
  - { namespace: x, name: a, node: n1, ports: [{ port: 80 }, { port: 80, protocol: UDP }] }
  - { namespace: x, name: b, node: n2, ports: [{ port: 80 }, { port: 80, protocol: UDP }] }
  - { namespace: y, name: c, node: m1, ports: [{ port: 80 }, { port: 80, protocol: UDP }] }
`,
);

let net: Network;
let servers: ProbeServers;
const endpoints = ['x/a', 'x/b', 'y/c', 'ext:web'];

beforeAll(async () => {
  net = await mininetPlatform.up(s.topology, s.initial.pods);
  servers = await startProbeServers(
    net,
    endpoints.map((host) => ({ host, tcp: [80], udp: [80] })),
  );
});
afterAll(async () => {
  await servers?.stop();
  await net?.down();
});

const cells = (port: number, protocol: ProbeTarget['protocol']): ProbeTarget[] =>
  endpoints.flatMap((from) =>
    endpoints
      .filter((to) => to !== from)
      .map((to) => ({ from, to, address: net.address(to), port, protocol })),
  );

describe('probes', () => {
  it('reaches the right server for every pair over TCP and UDP across nodes, clusters and the external segment', async () => {
    const r = await probeReachability(net, [...cells(80, 'TCP'), ...cells(80, 'UDP')]);
    expect(r).toHaveLength(24);
    expect(
      r.filter((c) => c.outcome !== 'reached').map((c) => `${c.from}->${c.to}/${c.protocol}: ${c.detail}`),
    ).toEqual([]);
    expect(r.every((c) => c.detail === c.to)).toBe(true);
  });

  it('probes through the running servers (no process per probe) with the same results', async () => {
    const t = [...cells(80, 'TCP'), ...cells(80, 'UDP')];
    const viaAgents = await probeReachability(net, t, {}, servers);
    expect(viaAgents.map((c) => c.outcome)).toEqual(t.map(() => 'reached'));
    expect(viaAgents.map((c) => c.detail)).toEqual(t.map((c) => c.to));
    const [closed] = await probeReachability(
      net,
      [{ from: 'x/a', to: 'x/b', address: net.address('x/b'), port: 81, protocol: 'TCP' }],
      {},
      servers,
    );
    expect(closed!.outcome).toBe('blocked');
  });

  it('reports a port nobody serves as blocked, a wrong answer as wrong-peer, SCTP as unsupported', async () => {
    const [closedTcp, closedUdp, wrong, sctp] = await probeReachability(net, [
      { from: 'x/a', to: 'x/b', address: net.address('x/b'), port: 81, protocol: 'TCP' },
      { from: 'x/a', to: 'x/b', address: net.address('x/b'), port: 81, protocol: 'UDP' },
      { from: 'x/a', to: 'x/b', address: net.address('y/c'), port: 80, protocol: 'TCP' },
      { from: 'x/a', to: 'x/b', address: net.address('x/b'), port: 80, protocol: 'SCTP' },
    ]);
    expect(closedTcp!.outcome).toBe('blocked');
    expect(closedTcp!.detail).toBe('ECONNREFUSED');
    expect(closedUdp!.outcome).toBe('blocked');
    expect(wrong!.outcome).toBe('wrong-peer');
    expect(wrong!.detail).toBe('y/c');
    expect(sctp!.outcome).toBe('unsupported');
  });

  it('a stopped server is no longer reached', async () => {
    await servers.stop('y/c');
    const [r] = await probeReachability(net, [
      { from: 'x/a', to: 'y/c', address: net.address('y/c'), port: 80, protocol: 'TCP' },
    ]);
    expect(r!.outcome).toBe('blocked');
  });

  it('RR probe returns microsecond percentiles and the histogram, for UDP and TCP', async () => {
    for (const protocol of ['UDP', 'TCP'] as const) {
      const r = await runRr(net, {
        from: 'x/a',
        address: net.address('x/b'),
        port: 80,
        protocol,
        requests: 2000,
        warmup: 200,
      });
      expect(r.count).toBe(2000);
      expect(r.lost).toBe(0);
      expect(r.p50Us).toBeGreaterThan(0);
      expect(r.p50Us).toBeLessThan(10_000);
      expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
      expect(Number.isInteger(r.p50Us)).toBe(true);
      expect(decodeHistogram(r.histogram).totalCount).toBe(2000);
    }
  });
});
