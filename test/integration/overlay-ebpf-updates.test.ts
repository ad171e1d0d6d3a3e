// Config versions on the kernel data path: a policy update flips verdicts both ways (versions written into
// the maps as a diff against the slot they replace), and key rotation under a running flow loses no packet
// (rotation versions skip the agent's route and guard work). Root; real Mininet namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterState, NetworkPolicy } from '../../src/policy/model.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { daemon, down, tool, up, type Lab } from './overlay-helpers.ts';
import { expectLosslessRotation } from './overlay-rotation.ts';

const sc = parseScenario(
  'ebpf-updates.yaml',
  `
name: ebpf-updates
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, labels: { role: a }, node: n1 }
  - { namespace: app, name: c, labels: { role: c }, node: n1 }
  - { namespace: app, name: b, labels: { role: b }, node: n2 }
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: b-from-a, namespace: app }
    spec:
      podSelector: { matchLabels: { role: b } }
      ingress: [{ from: [{ podSelector: { matchLabels: { role: a } } }] }]
`,
);

const fromC: NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'b-from-c', namespace: 'app' },
  spec: {
    podSelector: { matchLabels: { role: 'b' } },
    ingress: [
      { from: [{ podSelector: { matchLabels: { role: 'c' } } }], ports: [{ port: 7000, protocol: 'UDP' }] },
    ],
  },
};

let lab: Lab | undefined;
let echo: Awaited<ReturnType<typeof daemon>> | undefined;
beforeAll(async () => {
  lab = await up(sc, 'ebpf');
  echo = await daemon(lab.net, 'app/b', 'echo', 7000);
});
afterAll(async () => {
  echo?.child.kill('SIGTERM');
  await down(lab);
});

async function reach(from: string, to: string): Promise<number> {
  const { net, ov } = lab!;
  const r = await tool(net, from, 'stream', { ip: ov.overlayAddress(to)!, port: 7000, rate: 100, ms: 200 });
  return r.received;
}

describe('overlay-ebpf config versions', () => {
  it('a policy update opens c → b and the next one closes it again', async () => {
    const { ov } = lab!;
    expect(await reach('app/a', 'app/b')).toBe(20);
    expect(await reach('app/c', 'app/b')).toBe(0);
    const opened: ClusterState = { ...sc.initial, policies: [...sc.initial.policies, fromC] };
    const r = await ov.update(opened, []);
    expect(r.detail?.processesPushed).toBeGreaterThan(0);
    expect(await reach('app/c', 'app/b')).toBe(20);
    await ov.update(sc.initial, []);
    expect(await reach('app/c', 'app/b')).toBe(0);
    expect(await reach('app/a', 'app/b')).toBe(20);
  });

  it('rotates the key twice under a running flow without losing a packet', async () => {
    const { phases, before, after } = await expectLosslessRotation(lab!, 'app/a', 'app/b');
    // The counters come from the maps through bpf(2): the flow above was counted.
    const allowed = (c: (typeof after)[string] | undefined) =>
      (c?.counters.allowed ?? 0) + (c?.counters.allowedCached ?? 0);
    expect(allowed(after['node:n2'])).toBeGreaterThan(allowed(before['node:n2']));
    console.log(
      `rotation (ebpf): ${phases.map((p) => `${p.phase} v${p.version} ${p.ms.toFixed(1)} ms`).join(', ')}`,
    );
  });
});
