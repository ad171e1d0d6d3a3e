// Idle pods of the pod-count sweep: deterministic, distinct names and addresses, spread over the destination's
// cluster, selected by the destination's policies, and never changing the measured flow's verdict.
import { describe, expect, it } from 'vitest';
import { sweepPods, SWEEP_POD_LABEL, withSweepPods } from '../../src/experiment/filler-pods.ts';
import { selectedPods, verdict } from '../../src/policy/engine.ts';
import { parseScenario } from '../../src/scenario/load.ts';

const SCENARIO = parseScenario(
  'pods.yaml',
  `
name: pods
topology:
  clusters:
    - { name: c1, nodes: [{ name: n1 }, { name: n2 }] }
    - { name: c2, nodes: [{ name: m1 }] }
namespaces: [{ name: app }, { name: other }]
pods:
  - { namespace: app, name: client, labels: { role: client }, node: n1 }
  - { namespace: app, name: server, labels: { role: server }, node: n2, ports: [{ port: 80, name: web }] }
  - { namespace: app, name: remote, labels: { role: server }, node: m1 }
  - { namespace: other, name: stranger, labels: { role: client }, node: n1 }
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: allow-client, namespace: app }
    spec:
      podSelector: { matchLabels: { role: server } }
      ingress: [{ from: [{ podSelector: { matchLabels: { role: client } } }], ports: [{ port: web }] }]
`,
);
const S = SCENARIO.initial;
const allowed = { from: 'app/client', to: 'app/server', port: 'web', protocol: 'TCP' as const };
const denied = { from: 'other/stranger', to: 'app/server', port: 'web', protocol: 'TCP' as const };

describe('sweep pods', () => {
  it('adds n pods with distinct names and free addresses, round-robin over the destination cluster', () => {
    const r = withSweepPods(S, allowed, 7);
    if (!('state' in r)) throw new Error(r.reason);
    expect(r.state.pods.length).toBe(S.pods.length + 7);
    expect(r.added.map((p) => p.name)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `sweep-pod-${i}`));
    expect(r.added.map((p) => p.node)).toEqual(['n1', 'n2', 'n1', 'n2', 'n1', 'n2', 'n1']);
    expect(r.added.every((p) => p.namespace === 'app' && p.cluster === 'c1')).toBe(true);
    const refs = r.state.pods.map((p) => `${p.namespace}/${p.name}`);
    expect(new Set(refs).size).toBe(refs.length);
    const ips = r.state.pods.map((p) => p.ip);
    expect(new Set(ips).size).toBe(ips.length);
    const cidr = (node: string) =>
      S.nodes
        .find((x) => x.name === node)!
        .podCIDR.split('.')
        .slice(0, 3)
        .join('.');
    expect(r.added.every((p) => p.ip.startsWith(`${cidr(p.node)}.`))).toBe(true);
  });
  it('labels them like the destination plus a sweep label, so its policies select them', () => {
    const [p] = sweepPods(S, S.pods[1]!, 1);
    expect(p!.labels).toEqual({ role: 'server', [SWEEP_POD_LABEL]: 'idle' });
    expect(p!.ports).toEqual(S.pods[1]!.ports);
    const r = withSweepPods(S, allowed, 4);
    if (!('state' in r)) throw new Error(r.reason);
    const selected = selectedPods(r.state, r.state.policies[0]!).map((q) => q.name);
    expect(selected).toEqual(expect.arrayContaining(['server', ...r.added.map((q) => q.name)]));
  });
  it('is deterministic and grows by prefix', () => {
    expect(sweepPods(S, S.pods[1]!, 50)).toEqual(sweepPods(S, S.pods[1]!, 50));
    expect(sweepPods(S, S.pods[1]!, 50).slice(0, 10)).toEqual(sweepPods(S, S.pods[1]!, 10));
    expect(sweepPods(S, S.pods[1]!, 0)).toEqual([]);
  });
  it('keeps the measured verdict, allowed or denied', () => {
    for (const flow of [allowed, denied]) {
      const r = withSweepPods(S, flow, 100);
      if (!('state' in r)) throw new Error(r.reason);
      expect(verdict(r.state, flow).allowed).toBe(verdict(S, flow).allowed);
    }
    expect(verdict(S, denied).allowed).toBe(false);
  });
  it('refuses a target that is not a pod, a name already taken, or a full pod range', () => {
    expect(withSweepPods(S, { ...allowed, to: 'node:n1' }, 3)).toEqual({
      reason: 'pod sweep target node:n1 is not a pod',
    });
    const taken = { ...S, pods: [...S.pods, { ...S.pods[1]!, name: 'sweep-pod-2', ip: '10.1.2.99' }] };
    expect(withSweepPods(taken, allowed, 5)).toMatchObject({
      reason: expect.stringMatching(/sweep-pod-2 already exists/),
    });
    expect(withSweepPods(S, allowed, 1000)).toMatchObject({ reason: expect.stringMatching(/no room/) });
  });
});
