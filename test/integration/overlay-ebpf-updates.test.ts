// Config versions on the kernel data path: a policy update flips verdicts both ways (versions written into
// the maps as a diff against the slot they replace), and key rotation under a running flow loses no packet
// (rotation versions skip the agent's route work); and the pod guard the agent programs are keeps the underlay
// path to a pod closed while the pod's own plain flows get their replies. Root; real Mininet namespaces.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterState, NetworkPolicy } from '../../src/policy/model.ts';
import { daemon, down, tool, up, type Lab } from './overlay-helpers.ts';
import { expectLosslessRotation } from './overlay-rotation.ts';
import { reach, threePods } from './overlay-three-pods.ts';

const sc = threePods('ebpf-updates');

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

describe('overlay-ebpf config versions', () => {
  it('the pod guard (agent programs) closes the underlay path to a pod; replies to its own plain flows pass', async () => {
    const { net } = lab!;
    expect(await reach(lab!, 'app/a', 'app/b', { real: true })).toBe(0);
    // A plain (non-overlay) echo server on the node: the pod's own requests get their replies back.
    const nodeEcho = await daemon(net, 'node:n1', 'echo', 7001);
    try {
      const r = await tool(net, 'app/a', 'stream', {
        ip: net.address('node:n1'),
        port: 7001,
        rate: 100,
        ms: 200,
      });
      expect(r.received).toBe(20);
    } finally {
      nodeEcho.child.kill('SIGTERM');
    }
    const guard = (await lab!.ov.counters())['app/b']!.counters.guardDropped ?? 0;
    expect(guard).toBeGreaterThanOrEqual(20);
  });

  it('every node SaP knows its pod links (peer_devs), so it delivers to local pods with bpf_redirect_peer', () => {
    const dir = lab!.ov.procs.bpfDir;
    const peers = fs
      .readdirSync(dir)
      .filter((d) => d.startsWith('s'))
      .map(
        (d) =>
          (
            JSON.parse(
              execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path.join(dir, d, 'm', 'peer_devs')], {
                encoding: 'utf8',
              }),
            ) as unknown[]
          ).length,
      );
    // Three pods (a and c on n1, b on n2): their veths are among the links into other namespaces.
    expect(peers.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
  });

  it('a policy update opens c → b and the next one closes it again', async () => {
    const { ov } = lab!;
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
    const opened: ClusterState = { ...sc.initial, policies: [...sc.initial.policies, fromC] };
    const r = await ov.update(opened, []);
    expect(r.detail?.processesPushed).toBeGreaterThan(0);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(20);
    await ov.update(sc.initial, []);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
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
