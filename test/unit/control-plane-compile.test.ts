import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compileOverlay,
  inexpressibleReason,
  overlayAddresses,
  GATEWAY_HOST,
} from '../../reference-impl/control-plane/compile.ts';
import { assignOverlayIps, directOverlayIp } from '../../reference-impl/control-plane/addressing.ts';
import { newOverlay } from '../../reference-impl/control-plane/keys.ts';
import { parseSapConfig } from '../../reference-impl/sap/config.ts';
import { parseAgentConfig } from '../../reference-impl/agent/config.ts';
import { verdict } from '../../src/policy/engine.ts';
import { resolveFlowPort } from '../../src/policy/ports.ts';
import type { ClusterState, Protocol } from '../../src/policy/model.ts';
import { simulate, stateArb } from './control-plane-sim.ts';
import { policy, xyz } from './policy-fixtures.ts';

const keys = newOverlay(() => Buffer.alloc(32, 7), 42);
const compile = (s: ClusterState, version = 1) => compileOverlay(s, { version, keys });
const agentRefs = (s: ClusterState) => [
  ...s.pods.map((p) => `${p.namespace}/${p.name}`),
  ...s.externals.map((e) => `ext:${e.name}`),
];

/** Every (src, dst, protocol, port) over agent-carrying endpoints: engine verdict vs simulated SaP lookup. */
function mismatches(s: ClusterState): string[] {
  const plan = compile(s);
  const out: string[] = [];
  const refs = agentRefs(s);
  for (const from of refs)
    for (const to of refs) {
      if (from === to) continue;
      for (const protocol of ['TCP', 'UDP'] as Protocol[])
        for (const port of [80, 81, 'web', 'dns'] as (number | string)[]) {
          const dst = s.pods.find((p) => `${p.namespace}/${p.name}` === to);
          const n = resolveFlowPort(port, protocol, dst);
          if (n === undefined) continue; // a named port the destination lacks cannot be sent to
          const want = verdict(s, { from, to, protocol, port }).allowed;
          const got = simulate(plan, from, to, protocol, n).allowed;
          if (want !== got) out.push(`${from} → ${to} ${port}/${protocol}: engine ${want}, overlay ${got}`);
        }
    }
  return out;
}

describe('overlay addressing', () => {
  it('maps the pod and external plans 1:1 and readably', () => {
    expect(directOverlayIp('10.1.2.13')).toBe('100.65.2.13');
    expect(directOverlayIp('10.2.1.10')).toBe('100.66.1.10');
    expect(directOverlayIp('198.19.0.10')).toBe('100.127.0.10');
    expect(directOverlayIp('192.168.1.1')).toBeUndefined();
  });

  it('is deterministic and injective, also for addresses outside the plan', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.ipV4(), { minLength: 1, maxLength: 200 }), (ips) => {
        const a = assignOverlayIps(ips);
        const b = assignOverlayIps(ips);
        expect([...a]).toEqual([...b]);
        expect(new Set(a.values()).size).toBe(ips.length);
        for (const v of a.values()) expect(v).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./);
      }),
      { numRuns: 200 },
    );
  });

  it('gives a pod the same address in every state it appears in', () => {
    const s = xyz();
    const fewer = { ...s, pods: s.pods.slice(3) };
    const a = overlayAddresses(s);
    for (const [ref, ip] of overlayAddresses(fewer)) expect(a.get(ref)).toBe(ip);
  });
});

describe('compileOverlay', () => {
  it('produces configs the SaP and agent accept, one SaP per node plus a gateway per cluster', () => {
    const s = xyz([policy('x/deny', { podSelector: {} })]);
    const plan = compile(s, 3);
    expect(plan.saps.map((p) => p.id).sort()).toEqual(['gw:c1', 'node:n1', 'node:n2']);
    for (const sp of plan.saps) expect(parseSapConfig(sp.config).version).toBe(3);
    for (const ag of plan.agents)
      expect(parseAgentConfig(ag.config).overlayIp).toBe(plan.overlayIps.get(ag.ref));
    expect(plan.agents).toHaveLength(10); // 9 pods + 1 unmanaged host
    const gw = plan.saps.find((p) => p.id === 'gw:c1')!;
    expect(gw).toMatchObject({ host: GATEWAY_HOST, listen: { ip: '198.18.0.1', port: 6080 } });
    expect(plan.agents.find((a) => a.ref === 'ext:out')!.config.sap).toEqual(gw.listen);
    // x/* are isolated for ingress with no rule: the tables say so explicitly.
    const n1 = plan.saps.find((p) => p.id === 'node:n1')!.config;
    const xa = n1.endpoints.find((e) => e.name === 'x/a')!;
    expect(xa).toMatchObject({
      isolatedIngress: true,
      isolatedEgress: false,
      ingress: [],
      agent: { ip: '10.1.1.10' },
    });
  });

  it('routes cross-cluster traffic gateway to gateway', () => {
    const s = xyz();
    s.nodes.push({ name: 'm1', cluster: 'c2', ip: '198.18.1.10', podCIDR: '10.2.1.0/24' });
    s.pods.push({
      namespace: 'x',
      name: 'far',
      labels: {},
      node: 'm1',
      cluster: 'c2',
      ip: '10.2.1.10',
      ports: [],
    });
    const plan = compile(s);
    expect(simulate(plan, 'x/a', 'x/far', 'TCP', 80).hops).toEqual(['node:n1', 'gw:c1', 'gw:c2', 'node:m1']);
    expect(simulate(plan, 'x/far', 'ext:out', 'TCP', 80).hops).toEqual(['node:m1', 'gw:c2', 'gw:c1']);
    expect(simulate(plan, 'x/a', 'x/c', 'TCP', 80).hops).toEqual(['node:n1']);
    expect(simulate(plan, 'x/a', 'x/b', 'TCP', 80).hops).toEqual(['node:n1', 'node:n2']);
  });

  it('resolves named ports per destination and ipBlocks on real addresses to overlay addresses', () => {
    const s = xyz([
      policy('x/eg', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.1.2.0/24' } }], ports: [{ port: 'serve-81-tcp' }] }],
      }),
    ]);
    s.pods[4] = { ...s.pods[4]!, ports: [{ port: 8081, protocol: 'TCP', name: 'serve-81-tcp' }] }; // y/b on n2
    const plan = compile(s);
    const xa = plan.saps.find((p) => p.id === 'node:n1')!.config.endpoints.find((e) => e.name === 'x/a')!;
    const entries = xa.egress!.map((e) => ({ peers: e.peers!.map((p) => p.cidr).sort(), ports: e.ports }));
    expect(entries).toContainEqual({
      peers: ['100.65.2.14/32'],
      ports: [{ protocol: 'TCP', portFrom: 8081, portTo: 8081 }],
    });
    expect(entries).toContainEqual({
      peers: ['100.65.2.11/32', '100.65.2.17/32'],
      ports: [{ protocol: 'TCP', portFrom: 81, portTo: 81 }],
    });
    expect(mismatches(s)).toEqual([]);
  });

  it('merges allow entries with the same peers: one entry per peer set, ports united, all ports absorbing', () => {
    const from = [{ podSelector: { matchLabels: { pod: 'b' } } }];
    const ingressOfXa = (ps: ReturnType<typeof policy>[]) => {
      const plan = compile(xyz(ps));
      return plan.saps.find((p) => p.id === 'node:n1')!.config.endpoints.find((e) => e.name === 'x/a')!
        .ingress!;
    };
    const sel = { matchLabels: { pod: 'a' } };
    const byPort = [80, 81, 80, 82].map((port, i) =>
      policy(`x/p${i}`, { podSelector: sel, ingress: [{ from, ports: [{ port }] }] }),
    );
    const merged = ingressOfXa(byPort);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.ports).toEqual([80, 81, 82].map((p) => ({ protocol: 'TCP', portFrom: p, portTo: p })));
    // A rule without ports allows every port of those peers: the merged entry names none.
    const withAll = ingressOfXa([...byPort, policy('x/all', { podSelector: sel, ingress: [{ from }] })]);
    expect(withAll).toHaveLength(1);
    expect(withAll[0]!.ports).toBeUndefined();
    // Other peers stay their own entry.
    const other = policy('x/c', {
      podSelector: sel,
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }], ports: [{ port: 80 }] }],
    });
    expect(ingressOfXa([...byPort, other])).toHaveLength(2);
    expect(mismatches(xyz([...byPort, other]))).toEqual([]);
  });

  it('names node endpoints and SCTP as inexpressible, and nothing else', () => {
    const s = xyz();
    expect(inexpressibleReason(s, { from: 'node:n1', to: 'x/a', protocol: 'TCP' })).toMatch(/no agent/);
    expect(inexpressibleReason(s, { from: 'x/a', to: 'node:n2', protocol: 'TCP' })).toMatch(/no agent/);
    expect(inexpressibleReason(s, { from: 'x/a', to: 'y/b', protocol: 'SCTP' })).toMatch(/SCTP/);
    expect(inexpressibleReason(s, { from: 'ext:out', to: 'y/b', protocol: 'UDP' })).toBeUndefined();
    const withNodePeer = xyz([
      policy('x/n', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/16' } }] }] }),
    ]);
    expect(
      compile(withNodePeer)
        .notes.map((n) => n.reason)
        .join(),
    ).toMatch(/node:n1, node:n2/);
  });

  it('the simulated SaP tables agree with the engine on every pair of random small states', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        expect(mismatches(s)).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });
});
