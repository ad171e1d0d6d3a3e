// Property-based tests: invariants of NetworkPolicy semantics over random states, and agreement with a naive
// reference evaluator written straight from the spec (no bitsets, no caches).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileState, normalizePolicyTypes, verdict } from '../../src/policy/engine.ts';
import { matchesSelector } from '../../src/policy/selectors.ts';
import { ipInBlock } from '../../src/policy/ipblock.ts';
import { resolveFlowPort, rulePortsMatch } from '../../src/policy/ports.ts';
import { truthTables } from '../../src/policy/truthtable.ts';
import type {
  ClusterState,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
} from '../../src/policy/model.ts';
import { policy, xyz } from './policy-fixtures.ts';

const val = fc.constantFrom('a', 'b', 'c');
const selector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.record({ pod: val }) }),
  fc.record({ matchLabels: fc.record({ ns: fc.constantFrom('x', 'y', 'z') }) }),
  fc.record({
    matchExpressions: fc
      .tuple(
        fc.constantFrom('pod', 'ns', 'env'),
        fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'),
        fc.subarray(['a', 'b', 'c', 'x', 'y', 'z', 'on'], { minLength: 1 }),
      )
      .map(([key, operator, values]) => [
        operator === 'In' || operator === 'NotIn' ? { key, operator, values } : { key, operator },
      ]),
  }),
) as fc.Arbitrary<LabelSelector>;
const peer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  fc.record({ podSelector: selector }),
  fc.record({ namespaceSelector: selector }),
  fc.record({ podSelector: selector, namespaceSelector: selector }),
  fc.record({
    ipBlock: fc.constantFrom(
      { cidr: '10.1.1.0/24' },
      { cidr: '10.1.0.0/16', except: ['10.1.2.0/25'] },
      { cidr: '198.19.0.0/16' },
      { cidr: '::/0' },
    ),
  }),
) as fc.Arbitrary<NetworkPolicyPeer>;
const port: fc.Arbitrary<NetworkPolicyPort> = fc.constantFrom<NetworkPolicyPort>(
  { port: 80 },
  { port: 81, protocol: 'TCP' },
  { port: 'serve-81-tcp' },
  { port: 'serve-80-udp', protocol: 'UDP' },
  { protocol: 'UDP' },
  { port: 80, endPort: 81 },
  { port: 80, protocol: 'SCTP' },
);
const rulePeers = fc.option(fc.array(peer, { maxLength: 3 }), { nil: undefined });
const rulePorts = fc.option(fc.array(port, { maxLength: 2 }), { nil: undefined });
const netpol = (i: number): fc.Arbitrary<NetworkPolicy> =>
  fc
    .record({
      ns: fc.constantFrom('x', 'y', 'z'),
      podSelector: selector,
      policyTypes: fc.option(fc.subarray(['Ingress', 'Egress'] as const), { nil: undefined }),
      ingress: fc.option(fc.array(fc.record({ from: rulePeers, ports: rulePorts }), { maxLength: 3 }), {
        nil: undefined,
      }),
      egress: fc.option(fc.array(fc.record({ to: rulePeers, ports: rulePorts }), { maxLength: 3 }), {
        nil: undefined,
      }),
    })
    .map((r) =>
      policy(`${r.ns}/p${i}`, {
        podSelector: r.podSelector,
        ...(r.policyTypes ? { policyTypes: [...r.policyTypes] } : {}),
        ...(r.ingress ? { ingress: r.ingress.map((x) => strip(x)) } : {}),
        ...(r.egress ? { egress: r.egress.map((x) => strip(x)) } : {}),
      }),
    );
const strip = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const policies = (min = 0) =>
  fc.integer({ min, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => netpol(i))));
const stateArb = fc
  .record({
    pols: policies(),
    podLabels: fc.array(val, { minLength: 9, maxLength: 9 }),
    env: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  })
  .map(({ pols, podLabels, env }) => {
    const base = xyz(pols);
    return {
      ...base,
      pods: base.pods.map((p, i) => ({ ...p, labels: { pod: podLabels[i]! } })),
      namespaces: base.namespaces.map((n, i) => ({
        ...n,
        labels: env[i] ? { ...n.labels, env: 'on' } : n.labels,
      })),
    } as ClusterState;
  });
const probeArb = fc.constantFrom<[number | string, Protocol]>(
  [80, 'TCP'],
  [81, 'TCP'],
  [80, 'UDP'],
  [81, 'SCTP'],
  ['serve-81-tcp', 'TCP'],
);

/* eslint-disable @typescript-eslint/no-explicit-any -- the naive reference reads nodes, externals and pods through one loose shape */
/** The spec, read literally: no indices, every selector evaluated on the spot. */
function reference(
  state: ClusterState,
  from: string,
  to: string,
  portSpec: number | string,
  protocol: Protocol,
): { ingress: boolean; egress: boolean } {
  const find = (ref: string) => {
    if (ref.startsWith('node:'))
      return { kind: 'node', ...state.nodes.find((n) => `node:${n.name}` === ref)! };
    if (ref.startsWith('ext:'))
      return { kind: 'ext', ...state.externals.find((n) => `ext:${n.name}` === ref)! };
    return { kind: 'pod', ...state.pods.find((p) => `${p.namespace}/${p.name}` === ref)! };
  };
  const src = find(from) as any;
  const dst = find(to) as any;
  const dstPod = dst.kind === 'pod' ? dst : undefined;
  const portNum = resolveFlowPort(portSpec, protocol, dstPod);
  const peerMatches = (
    p: NetworkPolicy,
    peers: NetworkPolicyPeer[] | undefined,
    remote: any,
    cluster: string,
  ) =>
    !peers ||
    peers.length === 0 ||
    peers.some((pe) => {
      if (pe.ipBlock) return ipInBlock(remote.ip, pe.ipBlock);
      if (remote.kind !== 'pod' || remote.cluster !== cluster) return false;
      const nsOk = pe.namespaceSelector
        ? matchesSelector(
            state.namespaces.find((n) => n.name === remote.namespace)!.labels,
            pe.namespaceSelector,
          )
        : remote.namespace === p.metadata.namespace;
      return nsOk && (!pe.podSelector || matchesSelector(remote.labels, pe.podSelector));
    });
  const side = (local: any, remote: any, dir: 'Ingress' | 'Egress') => {
    if (local.kind !== 'pod') return true;
    if (dir === 'Ingress' && remote.kind === 'node' && remote.name === local.node) return true;
    const sel = state.policies.filter(
      (p) =>
        p.metadata.namespace === local.namespace &&
        matchesSelector(local.labels, p.spec.podSelector) &&
        normalizePolicyTypes(p).includes(dir),
    );
    if (sel.length === 0) return true;
    return sel.some((p) =>
      dir === 'Ingress'
        ? (p.spec.ingress ?? []).some(
            (r) =>
              peerMatches(p, r.from, remote, local.cluster) &&
              rulePortsMatch(r.ports, protocol, portNum, dstPod),
          )
        : (p.spec.egress ?? []).some(
            (r) =>
              peerMatches(p, r.to, remote, local.cluster) &&
              rulePortsMatch(r.ports, protocol, portNum, dstPod),
          ),
    );
  };
  return { egress: side(src, dst, 'Egress'), ingress: side(dst, src, 'Ingress') };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

const endpoints = (s: ClusterState) => [
  ...s.pods.map((p) => `${p.namespace}/${p.name}`),
  'node:n1',
  'node:n2',
  'ext:out',
];
const RUNS = { numRuns: 150 };

describe('engine properties', () => {
  it('agrees with the naive reference evaluator on every flow', () => {
    fc.assert(
      fc.property(stateArb, probeArb, (s, [port, protocol]) => {
        const eps = endpoints(s);
        for (const from of eps)
          for (const to of eps) {
            if (from === to) continue;
            const v = verdict(s, { from, to, port, protocol });
            const r = reference(s, from, to, port, protocol);
            expect({ from, to, ingress: v.ingress.allowed, egress: v.egress.allowed }).toEqual({
              from,
              to,
              ...r,
            });
            expect(v.allowed).toBe(r.ingress && r.egress);
          }
      }),
      RUNS,
    );
  });

  it('tables: combined = ingress AND egress, cells agree with verdict, diagonal undefined', () => {
    fc.assert(
      fc.property(stateArb, probeArb, (s, [port, protocol]) => {
        const t = truthTables(s, { port, protocol, from: endpoints(s), to: endpoints(s) });
        t.combined.from.forEach((f, i) =>
          t.combined.to.forEach((to, j) => {
            const c = t.combined.cells[i]![j]!;
            if (f === to) return expect(c).toBe('-');
            expect(c).toBe(t.ingress.cells[i]![j] === '.' && t.egress.cells[i]![j] === '.' ? '.' : 'X');
            const v = verdict(s, { from: f, to, port, protocol });
            expect(t.ingress.cells[i]![j]).toBe(v.ingress.allowed ? '.' : 'X');
            expect(t.egress.cells[i]![j]).toBe(v.egress.allowed ? '.' : 'X');
          }),
        );
      }),
      RUNS,
    );
  });

  it('a pod no ingress policy selects is reachable from every source whose egress allows it', () => {
    fc.assert(
      fc.property(stateArb, probeArb, (s, [port, protocol]) => {
        const cs = compileState(s);
        const t = truthTables(cs, { port, protocol, from: endpoints(s), to: endpoints(s) });
        t.combined.to.forEach((to, j) => {
          if (cs.ingressBy[cs.byRef.get(to)!]!.length > 0) return;
          t.combined.from.forEach((f, i) => {
            if (f !== to) expect(t.combined.cells[i]![j]).toBe(t.egress.cells[i]![j]);
          });
        });
      }),
      RUNS,
    );
  });

  it('adding a policy never removes a flow allowed at an endpoint already isolated in that direction', () => {
    fc.assert(
      fc.property(stateArb, netpol(99), probeArb, (s, extra, [port, protocol]) => {
        const before = compileState(s);
        const after = { ...s, policies: [...s.policies, extra] };
        const eps = endpoints(s);
        for (const from of eps)
          for (const to of eps) {
            if (from === to) continue;
            const v0 = verdict(before, { from, to, port, protocol });
            const v1 = verdict(after, { from, to, port, protocol });
            if (v0.ingress.isolated && v0.ingress.allowed) expect(v1.ingress.allowed).toBe(true);
            if (v0.egress.isolated && v0.egress.allowed) expect(v1.egress.allowed).toBe(true);
            // Adding can only isolate, never un-isolate.
            if (v0.ingress.isolated) expect(v1.ingress.isolated).toBe(true);
          }
      }),
      RUNS,
    );
  });

  it('the result is independent of policy order', () => {
    fc.assert(
      fc.property(stateArb, probeArb, fc.integer(), (s, [port, protocol], k) => {
        const shuffled = [...s.policies];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.abs(k * (i + 7)) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const a = truthTables(s, { port, protocol });
        const b = truthTables({ ...s, policies: shuffled }, { port, protocol });
        expect(b.combined.cells).toEqual(a.combined.cells);
        expect(b.ingress.cells).toEqual(a.ingress.cells);
        expect(b.egress.cells).toEqual(a.egress.cells);
      }),
      RUNS,
    );
  });
});
