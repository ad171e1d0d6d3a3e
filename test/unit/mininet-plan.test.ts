// Pure planning of the Mininet platform and the probes: netem refusal, build request, addresses, server ports,
// probe cells (named ports, unsupported protocols) and the observed table.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import {
  buildRequest,
  checkLinkSupport,
  hostAddresses,
  isPrefix,
  newPrefix,
} from '../../src/platform/mininet/topo.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import {
  allAllowedTable,
  observedTable,
  probeCells,
  serverHosts,
  serverPlan,
} from '../../src/traffic/plan.ts';
import type { ProbeResult } from '../../src/traffic/reachability.ts';

const s = parseScenario(
  't.yaml',
  `
name: t
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: web }]
namespaces: [{ name: x }]
pods:
  - { namespace: x, name: a, node: n1, ports: [{ port: 8080, name: http }, { port: 53, protocol: UDP }] }
  - { namespace: x, name: b, node: n2, ports: [] }
steps:
  - probes:
      - { port: 80 }
      - { port: http }
      - { port: 80, protocol: SCTP }
      - { port: 80, to: [ext:web] }
`,
);

describe('mininet planning', () => {
  it('prefixes are tb + 4 hex and distinct', () => {
    const ps = new Set(Array.from({ length: 50 }, newPrefix));
    for (const p of ps) expect(isPrefix(p)).toBe(true);
    expect(ps.size).toBeGreaterThan(45);
    expect(isPrefix('tb12g4')).toBe(false);
  });

  it('refuses delay and loss naming netem, accepts bandwidth and mtu', () => {
    expect(() => checkLinkSupport({ delayMs: 10 })).toThrow(UsageError);
    expect(() => checkLinkSupport({ lossPercent: 1 })).toThrow(/netem/);
    expect(() => checkLinkSupport({ bandwidthMbit: 100, mtu: 1400 })).not.toThrow();
    expect(() => buildRequest('tb0000', { ...s.topology, links: { delayMs: 1 } }, s.initial.pods)).toThrow(
      /delayMs: 1.*netem/,
    );
  });

  it('build request and addresses follow the resolved topology', () => {
    const r = buildRequest('tb0000', s.topology, s.initial.pods);
    expect(r.pods).toEqual([
      { name: 'x/a', node: 'n1', ip: s.initial.pods[0]!.ip },
      { name: 'x/b', node: 'n2', ip: s.initial.pods[1]!.ip },
    ]);
    const a = hostAddresses(s.topology, s.initial.pods);
    expect(a.get('node:n2')).toBe(s.topology.clusters[0]!.nodes[1]!.ip);
    expect(a.get('ext:web')).toBe(s.topology.externals[0]!.ip);
    expect(() => buildRequest('tb0000', s.topology, [{ ...s.initial.pods[0]!, node: 'nope' }])).toThrow(
      /unknown node/,
    );
  });
});

describe('probe planning', () => {
  it('serves declared ports plus every numeric probed port, on pods and probed externals', () => {
    const plan = serverPlan(s);
    expect(plan.forHost('x/a', s.initial)).toEqual({ host: 'x/a', tcp: [80, 8080], udp: [53] });
    expect(plan.forHost('x/b', s.initial)).toEqual({ host: 'x/b', tcp: [80], udp: [] });
    expect(serverHosts(s, s.initial).sort()).toEqual(['ext:web', 'x/a', 'x/b']);
  });

  it('resolves named ports per destination and skips unresolvable or unsupported cells', () => {
    const addr = (_f: string, t: string) => `addr-of-${t}`;
    const [p80, named, sctp] = s.steps[0]!.probes;
    expect(probeCells(s.initial, p80!, addr, ['SCTP']).targets).toEqual([
      { from: 'x/a', to: 'x/b', address: 'addr-of-x/b', port: 80, protocol: 'TCP' },
      { from: 'x/b', to: 'x/a', address: 'addr-of-x/a', port: 80, protocol: 'TCP' },
    ]);
    const n = probeCells(s.initial, named!, addr, ['SCTP']);
    expect(n.targets).toEqual([
      { from: 'x/b', to: 'x/a', address: 'addr-of-x/a', port: 8080, protocol: 'TCP' },
    ]);
    expect(n.skipped).toEqual([{ from: 'x/a', to: 'x/b', why: "named port 'http' not declared by x/b" }]);
    const sc = probeCells(s.initial, sctp!, addr, ['SCTP']);
    expect(sc.targets).toEqual([]);
    expect(sc.skipped).toHaveLength(2);
  });

  it('builds the observed table from outcomes: only the right server counts as allowed', () => {
    const probe = s.steps[0]!.probes[0]!;
    const cells = probeCells(s.initial, probe, (_f, t) => t, []);
    const results: ProbeResult[] = [
      { ...cells.targets[0]!, outcome: 'wrong-peer', detail: 'x/z', us: 10 },
      { ...cells.targets[1]!, outcome: 'reached', detail: 'x/a', us: 10 },
    ];
    const t = observedTable(cells, probe, results);
    expect(t.cells).toEqual([
      ['-', 'X'],
      ['.', '-'],
    ]);
    expect(t.reason!('x/a', 'x/b')).toMatch(/wrong-peer \(x\/z/);
    expect(allAllowedTable(['x/a', 'x/b'], ['x/a', 'x/b'], probe).cells).toEqual([
      ['-', '.'],
      ['.', '-'],
    ]);
  });
});

describe('prerequisites', () => {
  it('names what is missing and the apt-get line, in one line', async () => {
    const { checkPrerequisites } = await import('../../src/platform/prereq.ts');
    const ok = { what: 'ok', pkg: 'x', check: async () => true };
    const err = await checkPrerequisites([
      ok,
      { what: 'nft', pkg: 'nftables', check: async () => false },
      { what: 'ping', pkg: 'iputils-ping', check: async () => false },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^missing nft, ping: apt-get install nftables iputils-ping/);
    expect((err as Error).message).not.toContain('\n');
  });
});
