import { describe, expect, it } from 'vitest';
import {
  compileState,
  egressAllowed,
  ingressAllowed,
  normalizePolicyTypes,
  peerEndpoints,
  selectedPods,
  verdict,
} from '../../src/policy/engine.ts';
import { bitHas } from '../../src/policy/bitset.ts';
import type { ClusterState, Protocol } from '../../src/policy/model.ts';
import { pod, policy, xyz } from './policy-fixtures.ts';

const tcp = (from: string, to: string, port: number | string = 80, protocol: Protocol = 'TCP') => ({
  from,
  to,
  port,
  protocol,
});

describe('policyTypes defaulting', () => {
  it('absent → Ingress only; non-empty egress adds Egress; egress: [] does not', () => {
    expect(normalizePolicyTypes(policy('x/p', { podSelector: {} }))).toEqual(['Ingress']);
    expect(normalizePolicyTypes(policy('x/p', { podSelector: {}, egress: [{}] }))).toEqual([
      'Ingress',
      'Egress',
    ]);
    expect(normalizePolicyTypes(policy('x/p', { podSelector: {}, egress: [] }))).toEqual(['Ingress']);
    expect(normalizePolicyTypes(policy('x/p', { podSelector: {}, policyTypes: [], egress: [{}] }))).toEqual([
      'Ingress',
      'Egress',
    ]);
    expect(normalizePolicyTypes(policy('x/p', { podSelector: {}, policyTypes: ['Egress'] }))).toEqual([
      'Egress',
    ]);
  });
  it('rules of a direction not listed in policyTypes are ignored', () => {
    // Egress-only policy with an ingress allow rule: ingress is not isolated, egress denies everything.
    const s = xyz([
      policy('x/p', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], ingress: [{}] }),
    ]);
    const v = verdict(s, tcp('x/a', 'y/b'));
    expect(v.egress.allowed).toBe(false);
    expect(v.ingress.isolated).toBe(false);
    expect(verdict(s, tcp('y/b', 'x/a')).allowed).toBe(true);
  });
});

describe('isolation and reasons', () => {
  it('deny-all ingress isolates every pod of the namespace; reason names the policy', () => {
    const s = xyz([policy('y/deny', { podSelector: {} })]);
    const v = verdict(s, tcp('x/a', 'y/b'));
    expect(v.allowed).toBe(false);
    expect(v.ingress).toMatchObject({ allowed: false, isolated: true });
    expect(v.ingress.reason).toContain('y/deny');
    expect(v.egress).toMatchObject({ allowed: true, isolated: false });
    expect(verdict(s, tcp('y/b', 'x/a')).allowed).toBe(true);
  });
  it('allow reasons list every rule that admitted the flow', () => {
    const s = xyz([
      policy('y/deny', { podSelector: {} }),
      policy('y/from-x', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }],
      }),
      policy('y/from-a', {
        podSelector: {},
        ingress: [
          { ports: [{ port: 81 }] },
          { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } }] },
        ],
      }),
    ]);
    const v = verdict(s, tcp('x/a', 'y/b'));
    expect(v.allowed).toBe(true);
    expect(v.ingress.policies).toEqual(['y/from-x#0', 'y/from-a#1']);
    expect(verdict(s, tcp('z/b', 'y/b')).allowed).toBe(false);
    expect(verdict(s, tcp('z/b', 'y/b', 81)).ingress.policies).toEqual(['y/from-a#0']);
  });
  it('pod to itself is undefined', () => {
    expect(verdict(xyz(), tcp('x/a', 'x/a')).allowed).toBe('undefined');
  });
  it('egress and ingress must both allow', () => {
    const s = xyz([
      policy('x/eg', {
        podSelector: { matchLabels: { pod: 'a' } },
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
      policy('y/in', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }),
    ]);
    const v = verdict(s, tcp('x/a', 'y/b'));
    expect(v.egress.allowed).toBe(true);
    expect(v.ingress.allowed).toBe(false);
    expect(v.allowed).toBe(false);
    expect(verdict(s, tcp('x/a', 'z/b')).allowed).toBe(false);
    expect(verdict(s, tcp('x/b', 'z/b')).allowed).toBe(true);
  });
  it('ingress: [] allows nothing; a rule without from allows everything', () => {
    const none = xyz([policy('y/p', { podSelector: {}, ingress: [] })]);
    expect(verdict(none, tcp('x/a', 'y/a')).allowed).toBe(false);
    const all = xyz([policy('y/p', { podSelector: {}, ingress: [{ from: [] }] })]);
    expect(verdict(all, tcp('x/a', 'y/a')).allowed).toBe(true);
    expect(verdict(all, tcp('ext:out', 'y/a')).allowed).toBe(true);
  });
  it('podSelector alone means the policy namespace; with namespaceSelector it is AND', () => {
    const s = xyz([
      policy('y/p', {
        podSelector: {},
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }],
      }),
    ]);
    expect(verdict(s, tcp('y/a', 'y/b')).allowed).toBe(true);
    expect(verdict(s, tcp('x/a', 'y/b')).allowed).toBe(false);
    const and = xyz([
      policy('y/p', {
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'a' } } },
            ],
          },
        ],
      }),
    ]);
    expect(verdict(and, tcp('x/a', 'y/b')).allowed).toBe(true);
    expect(verdict(and, tcp('x/b', 'y/b')).allowed).toBe(false);
    expect(verdict(and, tcp('z/a', 'y/b')).allowed).toBe(false);
    expect(verdict(and, tcp('y/a', 'y/b')).allowed).toBe(false);
  });
});

describe('nodes, externals, clusters', () => {
  it("traffic from the pod's own node is allowed, from another node it is not", () => {
    const s = xyz([policy('y/deny', { podSelector: {} })]);
    expect(verdict(s, tcp('node:n1', 'y/a')).allowed).toBe(true); // y/a is on n1
    expect(verdict(s, tcp('node:n2', 'y/a')).allowed).toBe(false);
    expect(verdict(s, tcp('node:n2', 'y/b')).allowed).toBe(true);
  });
  it('externals are never isolated and matched by ipBlock only', () => {
    const s = xyz([
      policy('y/p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.19.0.0/24' } }] }] }),
    ]);
    expect(verdict(s, tcp('ext:out', 'y/a')).allowed).toBe(true);
    expect(verdict(s, tcp('x/a', 'y/a')).allowed).toBe(false);
    expect(verdict(s, tcp('y/a', 'ext:out')).ingress.isolated).toBe(false);
  });
  it('peers of another cluster are matched by ipBlock only; each cluster enforces for its own pods', () => {
    const base = xyz();
    const s: ClusterState = {
      ...base,
      nodes: [...base.nodes, { name: 'm1', cluster: 'c2', ip: '198.18.1.10', podCIDR: '10.2.1.0/24' }],
      pods: [...base.pods, pod('x/r', { pod: 'a' }, { node: 'm1', cluster: 'c2', ip: '10.2.1.10' })],
      policies: [
        policy('y/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
        policy('x/q', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ podSelector: {} }, { ipBlock: { cidr: '10.1.0.0/16' } }] }],
        }),
      ],
    };
    expect(verdict(s, tcp('x/r', 'y/a')).allowed).toBe(false); // selector peers: only c1 pods
    expect(verdict(s, tcp('x/b', 'y/a')).allowed).toBe(true);
    // x/q selects x/a (c1) and x/r (c2); at x/r the selector peer means c2's x pods only.
    expect(
      selectedPods(s, s.policies[1]!)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['a', 'r']);
    expect(selectedPods(s, s.policies[1]!, 'c2').map((p) => p.name)).toEqual(['r']);
    expect(verdict(s, tcp('x/b', 'x/r')).allowed).toBe(true); // via ipBlock 10.1/16
    expect(verdict(s, tcp('x/b', 'x/r')).ingress.policies).toEqual(['x/q#0']);
    expect(verdict(s, tcp('x/r', 'x/a')).allowed).toBe(false);
    expect(peerEndpoints(s, s.policies[1]!, { podSelector: {} }, 'c2').map((e) => e.ref)).toEqual(['x/r']);
  });
});

describe('row/column bitsets agree with verdict', () => {
  it('on a mixed state', () => {
    const s = xyz([
      policy('x/p1', {
        podSelector: { matchLabels: { pod: 'a' } },
        egress: [
          {
            to: [{ podSelector: { matchLabels: { pod: 'b' } }, namespaceSelector: {} }],
            ports: [{ port: 'serve-80-tcp' }],
          },
        ],
      }),
      policy('y/p2', {
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.1.1.0/24', except: ['10.1.1.10/32'] } }] }],
      }),
    ]);
    const cs = compileState(s);
    for (const port of [80, 81, 'serve-80-tcp'] as const)
      for (const a of cs.endpoints)
        for (const b of cs.endpoints) {
          if (a === b) continue;
          const v = verdict(cs, { from: a.ref, to: b.ref, port, protocol: 'TCP' });
          const e = egressAllowed(cs, a.index, 'TCP', port);
          const i = ingressAllowed(cs, b.index, 'TCP', port);
          expect(e === null || bitHas(e, b.index), `${a.ref}->${b.ref}:${port} egress`).toBe(
            v.egress.allowed,
          );
          expect(i === null || bitHas(i, a.index), `${a.ref}->${b.ref}:${port} ingress`).toBe(
            v.ingress.allowed,
          );
        }
  });
});

describe('compiled-state cache', () => {
  it('is reused for the same state and refreshed when its arrays change', () => {
    const s = xyz();
    expect(compileState(s)).toBe(compileState(s));
    expect(verdict(s, tcp('x/a', 'y/b')).allowed).toBe(true);
    s.policies.push(policy('y/deny', { podSelector: {} }));
    expect(verdict(s, tcp('x/a', 'y/b')).allowed).toBe(false);
    s.policies = [];
    expect(verdict(s, tcp('x/a', 'y/b')).allowed).toBe(true);
  });
});
