// Pure parts of the traffic wrappers and the runner: tool output parsers, sweep filler policies, effort caps.
import { describe, expect, it } from 'vitest';
import { effortFor } from '../../src/experiment/measure.ts';
import { fillerPolicies, withFillers } from '../../src/experiment/fillers.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { classifyIperf3Error, Iperf3Error, parseIperf3Json } from '../../src/traffic/iperf3.ts';
import { parseSockperfFullLog, parseSockperfSummary } from '../../src/traffic/sockperf.ts';

// Trimmed from a real `iperf3 -c 127.0.0.1 -J -t 1` (iperf 3.12).
const IPERF_OK = JSON.stringify({
  start: { version: 'iperf 3.12' },
  end: {
    sum_sent: {
      start: 0,
      end: 1.002181,
      seconds: 1.002181,
      bytes: 921436160,
      bits_per_second: 7355447049.98,
      retransmits: 356,
      sender: true,
    },
    sum_received: {
      start: 0,
      end: 1.010371,
      seconds: 1.010371,
      bytes: 920256512,
      bits_per_second: 7286483970.74,
      sender: true,
    },
    streams: [
      {
        sender: {
          socket: 5,
          bits_per_second: 7355447049.98,
          retransmits: 356,
          max_rtt: 854,
          min_rtt: 854,
          mean_rtt: 854,
          sender: true,
        },
      },
    ],
  },
});

describe('iperf3 output', () => {
  it('parses receiver throughput, retransmits and mean RTT', () => {
    const r = parseIperf3Json(IPERF_OK);
    expect(r.bitsPerSecond).toBeCloseTo(7286483970.74, 0);
    expect(r.senderBitsPerSecond).toBeCloseTo(7355447049.98, 0);
    expect(r.retransmits).toBe(356);
    expect(r.meanRttUs).toBe(854);
    expect(r.version).toBe('iperf 3.12');
  });
  it('names iperf3 errors', () => {
    const err = (msg: string) => {
      try {
        parseIperf3Json(JSON.stringify({ start: {}, end: {}, error: msg }));
      } catch (e) {
        return e as Iperf3Error;
      }
      throw new Error('no error');
    };
    expect(err('unable to connect to server: Connection refused').kind).toBe('refused');
    expect(err('the server is busy running a test. try again later').kind).toBe('busy');
    expect(classifyIperf3Error('unable to connect to server: Connection timed out')).toBe('timeout');
    expect(() => parseIperf3Json('')).toThrow(/no JSON/);
  });
});

describe('sockperf output', () => {
  it('parses the summary (half round trip, µs) through colour codes', () => {
    const s = parseSockperfSummary(
      'sockperf: \x1b[2;35m====> avg-latency=20.204 (std-dev=172.662)\x1b[0m\nsockperf: ---> percentile 99.000 =   30.630\nsockperf: ---> percentile 50.000 =    5.938\n',
    );
    expect(s).toEqual({ avgHalf: 20.204, p99Half: 30.63, p50Half: 5.938 });
  });
  it('turns the full log into full round trips in µs', () => {
    const rtts = parseSockperfFullLog(
      'packet, txTime(sec), rxTime(sec), latency(usec)\n0, 2.460088606, 2.460101295, 6.344\n1, 2.460101325, 2.460113242, 5.958\n',
    );
    expect(rtts.length).toBe(2);
    expect(rtts[0]).toBeCloseTo(12.689, 2);
    expect(rtts[1]).toBeCloseTo(11.917, 2);
  });
});

const SUITE = parseScenario(
  'sweep.yaml',
  `
name: sweep
topology: { clusters: [{ name: c1, nodes: [{ name: n1 }] }] }
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: client, labels: { role: client }, node: n1 }
  - { namespace: app, name: server, labels: { role: server }, node: n1 }
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: allow-client, namespace: app }
    spec:
      podSelector: { matchLabels: { role: server } }
      ingress: [{ from: [{ podSelector: { matchLabels: { role: client } } }] }]
`,
);

describe('sweep fillers', () => {
  const flow = { from: 'app/client', to: 'app/server', port: 80, protocol: 'TCP' as const };
  it('adds N distinct policies that keep the measured flow allowed', () => {
    const r = withFillers(SUITE.initial, flow, 1000);
    expect('state' in r).toBe(true);
    if (!('state' in r)) return;
    expect(r.state.policies.length).toBe(1001);
    expect(new Set(r.state.policies.map((p) => p.metadata.name)).size).toBe(1001);
    expect(
      new Set(
        fillerPolicies(SUITE.initial.pods[1]!, 70_000).map(
          (p) => p.spec.ingress![0]!.from![0]!.ipBlock!.cidr,
        ),
      ).size,
    ).toBe(70_000);
  });
  it('refuses when the fillers would isolate a destination nobody admits the flow to', () => {
    const open = { ...SUITE.initial, policies: [] };
    const r = withFillers(open, flow, 10);
    expect('reason' in r && r.reason).toMatch(/change the verdict/);
  });
});

describe('effort', () => {
  const m = {
    name: 'x',
    kind: 'udp-rr' as const,
    path: 'p',
    from: 'a/b',
    to: 'a/c',
    port: 80,
    requests: 20000,
    warmup: 2000,
  };
  it('keeps the scenario figures in a full run and caps them in --quick', () => {
    expect(effortFor(m, false)).toEqual({ requests: 20000, warmup: 2000, seconds: 3 });
    expect(effortFor(m, true)).toEqual({ requests: 1500, warmup: 300, seconds: 1 });
    expect(effortFor({ ...m, kind: 'tcp-crr', requests: undefined, warmup: undefined }, true).requests).toBe(
      400,
    );
  });
});
