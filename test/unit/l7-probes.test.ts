// HTTP probes on the harness side: which servers speak HTTP, how a probe's raw answer reads (allowed, denied at
// L7 by a proxy, denied at L3), and the observed table's cells.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { observedTable, probeCells, serverPlan } from '../../src/traffic/plan.ts';
import { classifyProbe, type ProbeTarget } from '../../src/traffic/reachability.ts';

const yaml = (probes: string) => `
name: t
topology: { clusters: [{ name: c1, nodes: [{ name: n1 }] }] }
namespaces: [{ name: x }]
pods:
  - { namespace: x, name: a, node: n1, ports: [{ port: 9000 }, { port: 8081, name: http-alt }] }
  - { namespace: x, name: b, node: n1 }
steps:
  - probes:
${probes}
`;

describe('serverPlan with HTTP probes', () => {
  it('serves HTTP on HTTP-probed ports and the banner protocol elsewhere', () => {
    const sc = parseScenario(
      't.yaml',
      yaml('      - { port: 8080, http: { method: GET, path: / } }\n      - { port: 9000 }'),
    );
    const plan = serverPlan(sc);
    expect(plan.http).toEqual([8080]);
    expect(plan.forHost('x/a', sc.initial)).toEqual({
      host: 'x/a',
      tcp: [8081, 9000],
      udp: [],
      http: [8080],
    });
    const cells = probeCells(sc.initial, sc.steps[0]!.probes[0]!, () => '10.0.0.1', []);
    expect(cells.targets.every((t) => t.http?.path === '/')).toBe(true);
  });
  it('refuses a port probed both with and without http', () => {
    const sc = parseScenario(
      't.yaml',
      yaml('      - { port: 9000, http: { method: GET, path: / } }\n      - { port: 9000 }'),
    );
    expect(() => serverPlan(sc)).toThrow(InputError);
    expect(() => serverPlan(sc)).toThrow(/9000 is probed both with and without http/);
  });
});

describe('classifyProbe', () => {
  const t: ProbeTarget = { from: 'x/a', to: 'x/b', address: '10.0.0.2', port: 8080, protocol: 'TCP' };
  it('reads the app, the proxy and the absence of a connection apart', () => {
    expect(classifyProbe(t, { ok: true, status: 200, identity: 'x/b' }).outcome).toBe('reached');
    expect(classifyProbe(t, { ok: true, status: 200, identity: 'x/c' }).outcome).toBe('wrong-peer');
    expect(classifyProbe(t, { ok: false, status: 403, body: 'RBAC: access denied' })).toEqual({
      outcome: 'denied-l7',
      detail: 'HTTP 403 "RBAC: access denied"',
    });
    expect(classifyProbe(t, { ok: false, status: 400 }).outcome).toBe('denied-l7');
    // A 403 the app itself sent (it carries the app's identity) is not the proxy's.
    expect(classifyProbe(t, { ok: false, status: 403, identity: 'x/b' }).outcome).toBe('wrong-peer');
    expect(classifyProbe(t, { ok: false, status: 503 }).outcome).toBe('wrong-peer');
    expect(classifyProbe(t, { ok: false, error: 'closed' }).outcome).toBe('denied-l7');
    for (const error of ['timeout', 'ECONNRESET', 'ECONNREFUSED'])
      expect(classifyProbe(t, { ok: false, error }).outcome).toBe('blocked');
  });
});

describe('observedTable', () => {
  it('renders denied-l7 as 7 and blocked as X', () => {
    const sc = parseScenario('t.yaml', yaml('      - { port: 8080, http: { method: GET, path: / } }'));
    const probe = sc.steps[0]!.probes[0]!;
    const cells = probeCells(sc.initial, probe, () => '10.0.0.1', []);
    const [ab, ba] = cells.targets;
    const table = observedTable(cells, probe, [
      { ...ab!, outcome: 'denied-l7', detail: 'HTTP 403', us: 1 },
      { ...ba!, outcome: 'blocked', detail: 'timeout', us: 1 },
    ]);
    expect(table.cells).toEqual([
      ['-', '7'],
      ['X', '-'],
    ]);
  });
});
