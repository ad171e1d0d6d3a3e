// IPv6 and dual-stack: the loader's address plan and errors, and the engine's per-family semantics (an ipBlock
// sees only addresses of its own family, `except` likewise, selectors are family-blind).
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { flowFamily, verdict } from '../../src/policy/engine.ts';
import type { ClusterState, Pod } from '../../src/policy/model.ts';
import { truthTables } from '../../src/policy/truthtable.ts';
import { carveNodeCIDR, nthHost } from '../../src/scenario/addresses.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { ns, policy } from './policy-fixtures.ts';

const head = (cluster: string, extra = '') =>
  `name: t\ntopology:\n  clusters:\n    - name: c1\n${cluster}\n${extra}namespaces:\n  - { name: x }\n`;
const TWO_NODES = '      nodes: [{ name: n1 }, { name: n2 }]';

function inputError(text: string): InputError {
  try {
    parseScenario('/tmp/ds.yaml', text);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

describe('address plan, IPv6 half', () => {
  it('CIDR arithmetic works for both families', () => {
    expect(nthHost('fd00:10:1:1::/64', 10)).toBe('fd00:10:1:1::a');
    expect(nthHost('10.1.1.0/24', 10)).toBe('10.1.1.10');
    expect(() => nthHost('fd00::/127', 1)).toThrow(/no room/);
    expect(carveNodeCIDR('fd00:aa::/48', 0)).toBe('fd00:aa:0:1::/64');
    expect(carveNodeCIDR('10.5.0.0/16', 1)).toBe('10.5.2.0/24');
    expect(() => carveNodeCIDR('fd00:aa::/64', 0)).toThrow(/no room/);
  });
  it('IPv6-only: pods, nodes, router and externals get unique local addresses, deterministically', () => {
    const text =
      head(`      ipFamilies: [IPv6]\n${TWO_NODES}`, '  externals: [{ name: e1 }]\n') +
      'pods:\n  - { namespace: x, name: a, node: n1 }\n  - { namespace: x, name: b, node: n2 }\n';
    const s = parseScenario('/tmp/ds.yaml', text);
    const c = s.topology.clusters[0]!;
    expect([c.podCIDR, c.underlayCIDR, c.gateway]).toEqual([
      'fd00:10:1::/48',
      'fd00:198:18::/64',
      'fd00:198:18::1',
    ]);
    expect(c.nodes.map((n) => [n.ip, n.podCIDR])).toEqual([
      ['fd00:198:18::a', 'fd00:10:1:1::/64'],
      ['fd00:198:18::b', 'fd00:10:1:2::/64'],
    ]);
    expect(s.initial.pods.map((p) => [p.ip, p.ips])).toEqual([
      ['fd00:10:1:1::a', undefined],
      ['fd00:10:1:2::a', undefined],
    ]);
    expect(s.topology.externals).toEqual([{ name: 'e1', ip: 'fd00:198:19::a' }]);
    expect(s.topology.externalCIDR).toBe('fd00:198:19::/64');
    expect(parseScenario('/tmp/ds.yaml', text).hash).toBe(s.hash);
  });
  it('dual-stack: one address per family, the same host number; explicit ips keep working', () => {
    const text =
      head(
        `      ipFamilies: [IPv4, IPv6]\n${TWO_NODES}`,
        '  externals: [{ name: e4, ip: 198.19.0.20 }, { name: e46 }]\n',
      ) +
      "pods:\n  - { namespace: x, name: a, node: n1 }\n  - { namespace: x, name: b, node: n2, ips: ['fd00:10:1:2::99'] }\n" +
      "  - { namespace: x, name: c, node: n1, ip: '10.1.1.50' }\n";
    const s = parseScenario('/tmp/ds.yaml', text);
    expect(s.initial.pods.map((p) => p.ips)).toEqual([
      ['10.1.1.10', 'fd00:10:1:1::a'],
      ['10.1.2.10', 'fd00:10:1:2::99'],
      ['10.1.1.50', 'fd00:10:1:1::b'],
    ]);
    expect(s.topology.clusters[0]!.nodes[0]!.ips).toEqual(['198.18.0.10', 'fd00:198:18::a']);
    expect(s.topology.externals).toEqual([
      { name: 'e4', ip: '198.19.0.20' },
      { name: 'e46', ip: '198.19.0.11', ips: ['198.19.0.11', 'fd00:198:19::b'] },
    ]);
  });
  it('a probe without family runs once per family; expected tables per family', () => {
    const probe = `steps:\n  - probes:\n      - port: 80\n        expected:\n          IPv6: |\n            - x/a x/b\n            x/a - .\n            x/b . -\n`;
    const text =
      head(`      ipFamilies: [IPv4, IPv6]\n${TWO_NODES}`) +
      'pods:\n  - { namespace: x, name: a, node: n1 }\n  - { namespace: x, name: b, node: n2 }\n' +
      probe;
    const s = parseScenario('/tmp/ds.yaml', text);
    expect(s.steps[0]!.probes.map((p) => [p.family, p.expected !== undefined])).toEqual([
      ['IPv4', false],
      ['IPv6', true],
    ]);
    // IPv4-only scenarios resolve exactly as before: no family tag.
    const v4 = parseScenario(
      '/tmp/ds.yaml',
      head(TWO_NODES) +
        'pods:\n  - { namespace: x, name: a, node: n1 }\nsteps:\n  - probes: [{ port: 80 }]\n',
    );
    expect(v4.steps[0]!.probes[0]).toEqual({ port: 80, protocol: 'TCP' });
  });
});

describe('address errors name file, field and reason', () => {
  it('an IPv6 address or CIDR in an IPv4-only cluster', () => {
    let e = inputError(
      head(TWO_NODES) + "pods:\n  - { namespace: x, name: a, node: n1, ip: 'fd00:10:1:1::5' }\n",
    );
    expect([e.file, e.field]).toEqual(['/tmp/ds.yaml', 'pods[0].ip']);
    expect(e.reason).toMatch(/IPv6 address but cluster c1 has ipFamilies \[IPv4\]/);
    e = inputError(head("      nodes: [{ name: n1, podCIDR: 'fd00:1:1::/64' }]"));
    expect(e.field).toBe('topology.clusters[0].nodes[0].podCIDR');
    e = inputError(head(TWO_NODES, "  externals: [{ name: e1, ip: 'fd00:198:19::5' }]\n"));
    expect(e.field).toBe('topology.externals[0].ip');
    expect(e.reason).toMatch(/IPv6/);
  });
  it('overlapping IPv6 node CIDRs', () => {
    const e = inputError(
      head(
        "      ipFamilies: [IPv6]\n      nodes: [{ name: n1, podCIDR: 'fd00:1::/48' }, { name: n2, podCIDR: 'fd00:1:0:5::/64' }]",
      ),
    );
    expect(e.field).toBe('topology.clusters[0].nodes[1].podCIDR');
    expect(e.reason).toMatch(
      /IPv6 pod CIDRs of nodes n1 \(fd00:1::\/48\) and n2 \(fd00:1:0:5::\/64\) overlap/,
    );
  });
  it('a pod address outside its node CIDR, a second address of one family, a bad family list', () => {
    let e = inputError(
      head(`      ipFamilies: [IPv4, IPv6]\n${TWO_NODES}`) +
        "pods:\n  - { namespace: x, name: a, node: n1, ips: ['10.1.1.9', 'fd00:10:1:2::5'] }\n",
    );
    expect(e.field).toBe('pods[0].ips[1]');
    expect(e.reason).toMatch(/outside node n1's pod CIDR fd00:10:1:1::\/64/);
    e = inputError(
      head(`      ipFamilies: [IPv4, IPv6]\n${TWO_NODES}`) +
        "pods:\n  - { namespace: x, name: a, node: n1, ips: ['10.1.1.9', '10.1.1.8'] }\n",
    );
    expect(e.field).toBe('pods[0].ips[1]');
    expect(e.reason).toMatch(/one per family/);
    e = inputError(head(`      ipFamilies: [IPv6, IPv6]\n${TWO_NODES}`));
    expect(e.field).toBe('topology.clusters[0].ipFamilies');
  });
  it('an automatic external address never takes one given explicitly; a duplicate is an error', () => {
    const ext = (list: string) =>
      head(`      ipFamilies: [IPv4, IPv6]\n${TWO_NODES}`, `  externals: ${list}\n`);
    const s = parseScenario('/tmp/ds.yaml', ext("[{ name: e6, ip: 'fd00:198:19::b' }, { name: e46 }]"));
    expect(s.topology.externals[1]!.ips).toEqual(['198.19.0.11', 'fd00:198:19::d']);
    const e = inputError(
      ext("[{ name: e1, ip: 'fd00:198:19::b' }, { name: e2, ips: ['198.19.0.30', 'fd00:198:19:0::b'] }]"),
    );
    expect(e.field).toBe('topology.externals[1].ips[1]');
    expect(e.reason).toMatch(/already used by another external host/);
  });
  it('a probe family no endpoint has, an expected table for a family not probed', () => {
    const pods = 'pods:\n  - { namespace: x, name: a, node: n1 }\n  - { namespace: x, name: b, node: n2 }\n';
    let e = inputError(head(TWO_NODES) + pods + 'steps:\n  - probes: [{ port: 80, family: IPv6 }]\n');
    expect(e.field).toBe('steps[0].probes[0].family');
    e = inputError(
      head(TWO_NODES) + pods + "steps:\n  - probes: [{ port: 80, expected: { IPv6: '- x/a' } }]\n",
    );
    expect(e.field).toBe('steps[0].probes[0].expected.IPv6');
  });
});

/** x/a, x/b dual-stack, y/v4 IPv4 only, y/v6 IPv6 only; ext:e6 IPv6 only. */
function world(policies: ClusterState['policies']): ClusterState {
  const p = (ref: string, ips: string[], node = 'n1'): Pod => {
    const [namespace, name] = ref.split('/') as [string, string];
    return {
      namespace,
      name,
      labels: { pod: name },
      node,
      cluster: 'c1',
      ip: ips[0]!,
      ips,
      ports: [{ port: 80, protocol: 'TCP' }],
    };
  };
  return {
    namespaces: [ns('x', { ns: 'x' }), ns('y', { ns: 'y' })],
    pods: [
      p('x/a', ['10.1.1.10', 'fd00:10:1:1::a']),
      p('x/b', ['10.1.2.10', 'fd00:10:1:2::a'], 'n2'),
      p('y/v4', ['10.1.1.11']),
      p('y/v6', ['fd00:10:1:2::b'], 'n2'),
    ],
    nodes: [
      {
        name: 'n1',
        cluster: 'c1',
        ip: '198.18.0.10',
        ips: ['198.18.0.10', 'fd00:198:18::a'],
        podCIDR: '10.1.1.0/24',
      },
      {
        name: 'n2',
        cluster: 'c1',
        ip: '198.18.0.11',
        ips: ['198.18.0.11', 'fd00:198:18::b'],
        podCIDR: '10.1.2.0/24',
      },
    ],
    externals: [{ name: 'e6', ip: 'fd00:198:19::a' }],
    policies,
  };
}

const flow = (from: string, to: string, family?: 'IPv4' | 'IPv6') => ({
  from,
  to,
  port: 80,
  protocol: 'TCP' as const,
  ...(family ? { family } : {}),
});

describe('engine: a flow is evaluated with the addresses of its family', () => {
  it('an IPv4 ipBlock admits a dual-stack peer over IPv4 only', () => {
    const s = world([
      policy('x/p', {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.1.0.0/16' } }] }],
      }),
    ]);
    expect(verdict(s, flow('x/a', 'x/b', 'IPv4')).allowed).toBe(true);
    const v6 = verdict(s, flow('x/a', 'x/b', 'IPv6'));
    expect(v6.allowed).toBe(false);
    expect(v6.ingress.reason).toMatch(/over IPv6/);
    expect(v6.family).toBe('IPv6');
  });
  it('except applies per family', () => {
    const s = world([
      policy('x/p', {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [
          {
            from: [
              { ipBlock: { cidr: 'fd00:10::/32', except: ['fd00:10:1:1::/64'] } },
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.2.0/24'] } },
            ],
          },
        ],
      }),
    ]);
    expect(verdict(s, flow('x/a', 'x/b', 'IPv6')).allowed).toBe(false); // x/a's IPv6 is excepted
    expect(verdict(s, flow('x/a', 'x/b', 'IPv4')).allowed).toBe(true); // its IPv4 is not
    expect(verdict(s, flow('y/v6', 'x/b')).allowed).toBe(true);
    expect(verdict(s, flow('ext:e6', 'x/b')).allowed).toBe(false); // fd00:198:19::a is outside fd00:10::/32
  });
  it('selectors are family-blind; default family is the first both ends have', () => {
    const s = world([
      policy('x/p', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ]);
    expect(verdict(s, flow('y/v4', 'x/a')).allowed).toBe(true);
    expect(verdict(s, flow('y/v6', 'x/a')).allowed).toBe(true);
    expect(flowFamily(s, flow('y/v6', 'x/a'))).toBe('IPv6');
    expect(flowFamily(s, flow('x/a', 'x/b'))).toBe('IPv4');
    expect(() => verdict(s, flow('y/v4', 'y/v6', 'IPv4'))).toThrow(/no IPv4 address on both ends/);
  });
  it('truth tables per family leave out endpoints without that family, and agree with verdict()', () => {
    const s = world([
      policy('x/p', {
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00:10:1:2::/64'] } }] }],
      }),
    ]);
    for (const family of ['IPv4', 'IPv6'] as const) {
      const t = truthTables(s, { port: 80, protocol: 'TCP', family }).combined;
      expect(t.family).toBe(family);
      expect(t.from).toEqual(family === 'IPv4' ? ['x/a', 'x/b', 'y/v4'] : ['x/a', 'x/b', 'y/v6']);
      t.from.forEach((f, i) =>
        t.to.forEach((d, j) => {
          const v = verdict(s, { ...flow(f, d), family }).allowed;
          expect(t.cells[i]![j]).toBe(v === 'undefined' ? '-' : v ? '.' : 'X');
        }),
      );
    }
    const v6 = truthTables(s, { port: 80, protocol: 'TCP', family: 'IPv6' }).combined;
    // By hand: x/b and y/v6 sit in the excepted fd00:10:1:2::/64; y/v6 is not selected (namespace y).
    expect(v6.cells.map((r) => r.join(''))).toEqual(['-..', 'X-.', 'XX-']);
  });
});
