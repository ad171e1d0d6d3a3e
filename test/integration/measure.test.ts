// The measurement tools on a real Mininet network (mode none): RR/CRR/open-loop against the probe servers,
// autocannon HTTP, iperf3 and sockperf, all run inside pod namespaces. Checks that each produces sane µs
// histograms / throughput, and that iperf3's errors are named. The network is always taken down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNoneEnforcer } from '../../src/enforce/none.ts';
import { decodeHistogram, summarize } from '../../src/measure/histogram.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import type { Network } from '../../src/platform/platform.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import type { MeasurementSpec } from '../../src/scenario/schema.ts';
import { measureOnce } from '../../src/experiment/measure.ts';
import { runIperf3, Iperf3Error } from '../../src/traffic/iperf3.ts';
import { startHttpServer, type HttpServer } from '../../src/traffic/http.ts';
import { startProbeServers, type ProbeServers } from '../../src/traffic/servers.ts';

const YAML = `
name: measure-tools
topology: { clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }] }
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: client, node: n1 }
  - { namespace: app, name: server, node: n2 }
`;
const scenario = parseScenario('measure-tools.yaml', YAML);
let net: Network;
let probes: ProbeServers;
let http: HttpServer;

beforeAll(async () => {
  net = await mininetPlatform.up(scenario.topology, scenario.initial.pods);
  probes = await startProbeServers(net, [{ host: 'app/server', tcp: [80], udp: [80] }]);
  http = await startHttpServer(net, 'app/server', 8080);
});
afterAll(async () => {
  await http?.stop();
  await probes?.stop();
  await net?.down();
});

const m = (
  kind: MeasurementSpec['kind'],
  port: number,
  extra: Partial<MeasurementSpec> = {},
): MeasurementSpec => ({
  name: kind,
  kind,
  path: 'cross-node',
  from: 'app/client',
  to: 'app/server',
  port,
  ...extra,
});
const effort = { requests: 500, warmup: 100, seconds: 1 };

describe('measurement tools inside pod namespaces', () => {
  it.each([
    ['udp-rr', 80],
    ['tcp-rr', 80],
    ['tcp-crr', 80],
    ['http', 8080],
  ] as const)('%s yields a µs histogram with every request', async (kind, port) => {
    const r = await measureOnce(net, createNoneEnforcer(net), m(kind, port), effort);
    const h = decodeHistogram(r.latency!.histogram);
    const s = summarize(h);
    expect(s.count).toBe(500);
    expect(r.latency!.summary).toEqual(s);
    // Between namespaces on one machine: more than 5 µs, less than 50 ms at the median.
    expect(s.p50Us).toBeGreaterThan(5);
    expect(s.p50Us).toBeLessThan(50_000);
    expect(s.p99Us).toBeGreaterThanOrEqual(s.p50Us);
    expect(r.errors).toBe(0);
  });

  it('open loop measures from the intended send time at the requested rate', async () => {
    const t0 = Date.now();
    const r = await measureOnce(net, createNoneEnforcer(net), m('udp-rr', 80, { rate: 1000 }), {
      requests: 1000,
      warmup: 100,
      seconds: 1,
    });
    expect(Date.now() - t0).toBeGreaterThan(1000); // 1,100 requests at 1,000/s take at least 1.1 s
    expect(r.rate).toBe(1000);
    expect(r.tool).toBe('openloop');
    expect(r.latency!.summary.count + r.errors).toBe(1000);
  });

  it('iperf3 reports throughput, and a closed port is named as refused', async () => {
    const r = await measureOnce(net, createNoneEnforcer(net), m('iperf3', 5201), effort);
    expect(r.throughput!.bitsPerSecond).toBeGreaterThan(50e6);
    const err = await runIperf3(net, {
      from: 'app/client',
      to: 'app/server',
      address: '10.1.2.200',
      port: 5999,
      seconds: 1,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(Iperf3Error);
    expect(['refused', 'timeout']).toContain((err as Iperf3Error).kind);
  });

  it('sockperf gives full round trips in our histogram and its own half-RTT figures', async () => {
    const r = await measureOnce(net, createNoneEnforcer(net), m('sockperf', 11111), effort);
    const s = r.latency!.summary;
    expect(s.count).toBeGreaterThan(100);
    expect(r.latency!.tool!.p50Half).toBeGreaterThan(0);
    // Our value is a full round trip; sockperf's is half of one.
    expect(s.p50Us).toBeGreaterThanOrEqual(Math.floor(r.latency!.tool!.p50Half!));
  });
});
