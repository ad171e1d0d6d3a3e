// Mininet with IPv6 (root): a dual-stack cluster of two nodes, an IPv6-only external and a dual-stack one.
// Static addresses only (nodad, no SLAAC): every endpoint reaches every other over IPv6 right after up(),
// with neighbour discovery working across the bridges and through the nodes' pod gateways (fe80::1); the
// probe servers, RR, CRR, HTTP and iperf3 run over IPv6; sockperf refuses IPv6 with a clear error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import type { Network } from '../../src/platform/platform.ts';
import { familyAddress } from '../../src/platform/platform.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { runCrr } from '../../src/traffic/crr.ts';
import { runHttp, startHttpServer } from '../../src/traffic/http.ts';
import { runIperf3 } from '../../src/traffic/iperf3.ts';
import { probeReachability } from '../../src/traffic/reachability.ts';
import { runRr } from '../../src/traffic/rr.ts';
import { startProbeServers, type ProbeServers } from '../../src/traffic/servers.ts';
import { runSockperf } from '../../src/traffic/sockperf.ts';

const sc = parseScenario(
  'ipv6.yaml',
  `
name: ipv6
topology:
  clusters: [{ name: c1, ipFamilies: [IPv4, IPv6], nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: e6, ip: 'fd00:198:19::b' }, { name: e46 }]
namespaces: [{ name: x }]
pods:
  - { namespace: x, name: a, node: n1 }
  - { namespace: x, name: b, node: n2 }
  - { namespace: x, name: c, node: n1 }
`,
);

let net: Network | undefined;
let servers: ProbeServers | undefined;
beforeAll(async () => {
  net = await mininetPlatform.up(sc.topology, sc.initial.pods);
});
afterAll(async () => {
  await servers?.stop();
  await net?.down();
});

const v6 = (h: string) => familyAddress(net!, h, 'IPv6');

describe('mininet over IPv6', () => {
  it('gives every host its static IPv6 addresses, no tentative ones', async () => {
    for (const h of ['x/a', 'x/b', 'node:n1', 'ext:e6', 'ext:e46', 'router']) {
      const r = await net!.exec(h, ['ip', '-6', '-o', 'addr', 'show', 'scope', 'global']);
      expect(r.stdout, h).not.toContain('tentative');
      expect(r.stdout, h).toContain(v6(h === 'router' ? 'router' : h));
    }
    expect(v6('x/a')).toBe('fd00:10:1:1::a');
    expect(() => familyAddress(net!, 'ext:e6', 'IPv4')).toThrow(/no IPv4 address/);
  });

  it('routes every endpoint to every other over IPv6 (same node, cross node, external), at once', async () => {
    const eps = ['x/a', 'x/b', 'x/c', 'ext:e6', 'ext:e46'];
    const pairs = eps.flatMap((a) => eps.filter((b) => b !== a).map((b) => [a, b] as const));
    const failed: string[] = [];
    await Promise.all(
      pairs.map(async ([a, b]) => {
        const r = await net!.exec(a, ['ping', '-6', '-c', '1', '-W', '2', v6(b)], { timeoutMs: 5000 });
        if (r.code !== 0) failed.push(`${a} -> ${b}`);
      }),
    );
    expect(failed).toEqual([]);
    // Neighbour discovery resolved the pod's gateway on its veth (the node's fe80::1).
    const n = await net!.exec('x/a', ['ip', '-6', 'neigh', 'show', 'fe80::1']);
    expect(n.stdout).toMatch(/fe80::1 dev \S+ lladdr [0-9a-f:]+ (router )?(REACHABLE|STALE|DELAY|PROBE)/);
  });

  it('probes, RR, CRR, HTTP and iperf3 work over IPv6; sockperf says it cannot', async () => {
    servers = await startProbeServers(net!, [
      { host: 'x/b', tcp: [80], udp: [80] },
      { host: 'ext:e6', tcp: [80], udp: [] },
    ]);
    const targets = [
      { from: 'x/a', to: 'x/b', address: v6('x/b'), port: 80, protocol: 'TCP' as const },
      { from: 'x/a', to: 'x/b', address: v6('x/b'), port: 80, protocol: 'UDP' as const },
      { from: 'x/c', to: 'ext:e6', address: v6('ext:e6'), port: 80, protocol: 'TCP' as const },
      // The same server answers IPv4 too (one dual-stack socket).
      { from: 'x/a', to: 'x/b', address: net!.address('x/b'), port: 80, protocol: 'TCP' as const },
    ];
    const r = await probeReachability(net!, targets, {}, servers);
    expect(r.map((x) => x.outcome)).toEqual(['reached', 'reached', 'reached', 'reached']);
    for (const protocol of ['UDP', 'TCP'] as const) {
      const rr = await runRr(net!, {
        from: 'x/a',
        address: v6('x/b'),
        port: 80,
        protocol,
        requests: 200,
        warmup: 20,
      });
      expect(rr.count).toBe(200);
      expect(rr.lost).toBe(0);
    }
    const crr = await runCrr(net!, { from: 'x/a', address: v6('x/b'), port: 80, requests: 50, warmup: 5 });
    expect(crr.count).toBe(50);
    const http = await startHttpServer(net!, 'x/b', 8080);
    try {
      const h = await runHttp(net!, {
        from: 'x/a',
        address: v6('x/b'),
        port: 8080,
        requests: 200,
        warmup: 20,
      });
      expect(h.count).toBe(200);
    } finally {
      await http.stop();
    }
    const ip = await runIperf3(net!, { from: 'x/a', to: 'x/b', address: v6('x/b'), port: 5201, seconds: 1 });
    expect(ip.bitsPerSecond).toBeGreaterThan(0);
    await expect(
      runSockperf(net!, {
        from: 'x/a',
        to: 'x/b',
        address: v6('x/b'),
        port: 11111,
        seconds: 1,
        protocol: 'UDP',
      }),
    ).rejects.toThrow(/no IPv6 support/);
  });
});
