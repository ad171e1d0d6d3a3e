// An attacker on the underlay (an external host whose agent is stopped) sends forged-key, other-overlay,
// malformed, spoofed-source and stolen-key packets to the SaPs, GUE and plain traffic straight to a pod:
// nothing reaches the pod's workload, and every packet is counted by the SaP or the pod guard.
// No policies: every flow would be allowed, so only authentication and the guard stand in the way.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gue4, ipv4Udp, scenario } from './overlay-attacks4.ts';
import { daemon, down, tool, up, type Lab } from './overlay-helpers.ts';

// IPv4-only: two nodes with a pod each, and the external attacker.
const sc = scenario('ipv4');

const sum = (c: Record<string, number>, names: string[]) => names.reduce((a, n) => a + (c[n] ?? 0), 0);
const DROPS = [
  'badKey',
  'badEpoch',
  'unknownOverlay',
  'malformed',
  'unknownSender',
  'spoofedSource',
  'noRoute',
  'deniedPolicy',
];

async function guardDrops(lab: Lab, host: string): Promise<number> {
  const r = await lab.net.exec(host, ['nft', 'list', 'table', 'inet', 'ovguard']);
  return Number(/counter packets (\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

let lab: Lab | undefined;
beforeAll(async () => {
  lab = await up(sc);
});
afterAll(() => down(lab));

describe('overlay under attack', () => {
  it('delivers nothing forged, spoofed, malformed or plain, and counts every packet', async () => {
    const { net, ov } = lab!;
    const ip = (r: string) => ov.overlayAddress(r)!;
    const sink = await daemon(net, 'app/b', 'sink', 9999);
    try {
      // Positive control: an authentic packet through the overlay reaches the sink.
      await tool(net, 'app/a', 'send', {
        ip: ip('app/b'),
        port: 9999,
        hex: [Buffer.from('hello').toString('hex')],
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(sink.lines).toHaveLength(1);
      expect(sink.lines[0]).toContain(ip('app/a'));

      await ov.procs.stop('ext:attacker'); // from now on a bare host that knows the overlay's addresses
      const { overlayId, keys, sendEpoch } = ov.cp.keys;
      const key = Buffer.from(keys[0]!.key, 'hex');
      const toB = (src: string) => ipv4Udp(src, ip('app/b'), 9999, Buffer.from('attack'));
      const N = 5;
      const rep = (f: () => string) => Array.from({ length: N }, f);
      const forged = rep(() => gue4(overlayId, sendEpoch, randomBytes(key.length), toB(ip('ext:attacker'))));
      const otherOverlay = rep(() =>
        gue4((overlayId + 1) >>> 0, sendEpoch, randomBytes(key.length), toB(ip('ext:attacker'))),
      );
      const badEpoch = rep(() => gue4(overlayId, (sendEpoch + 7) % 256, key, toB(ip('ext:attacker'))));
      const malformed = [
        '00',
        'ffffffff',
        '1f04000000000000',
        randomBytes(3).toString('hex'),
        gue4(overlayId, sendEpoch, key, toB(ip('ext:attacker'))).slice(0, 30),
      ];
      const spoofed = rep(() => gue4(overlayId, sendEpoch, key, toB(ip('app/a'))));
      const own = rep(() => gue4(overlayId, sendEpoch, key, toB(ip('ext:attacker'))));
      const gw = ov.cp.plan!.saps.find((s) => s.id === 'gw:c1')!.listen;
      const n2 = ov.cp.plan!.saps.find((s) => s.id === 'node:n2')!.listen;

      const before = await ov.counters();
      const guardBefore = await guardDrops(lab!, 'app/b');
      // From the attacker's registered agent port (6080): spoofing another endpoint's source.
      const fromAgentPort = [...forged, ...otherOverlay, ...badEpoch, ...malformed, ...spoofed];
      await tool(net, 'ext:attacker', 'send', {
        ip: gw.ip,
        port: gw.port,
        hex: fromAgentPort,
        bindPort: 6080,
      });
      await tool(net, 'ext:attacker', 'send', {
        ip: n2.ip,
        port: n2.port,
        hex: fromAgentPort,
        bindPort: 6080,
      });
      // With the stolen key, from a port no agent owns (a process that is not the agent): unknown sender.
      await tool(net, 'ext:attacker', 'send', { ip: gw.ip, port: gw.port, hex: own });
      // Straight to the pod: GUE to its agent, and plain UDP to its workload.
      await tool(net, 'ext:attacker', 'send', {
        ip: net.address('app/b'),
        port: 6080,
        hex: own,
        bindPort: 6080,
      });
      await tool(net, 'ext:attacker', 'send', {
        ip: net.address('app/b'),
        port: 9999,
        hex: rep(() => '61747461636b'),
      });
      await tool(net, 'app/a', 'send', {
        ip: net.address('app/b'),
        port: 9999,
        hex: rep(() => '706c61696e'),
      }); // plain, pod to pod
      await new Promise((r) => setTimeout(r, 500));
      const after = await ov.counters();

      expect(sink.lines).toHaveLength(1); // still only the positive control
      const d = (id: string, names: string[]) =>
        sum(after[id]!.counters, names) - sum(before[id]!.counters, names);
      const sent = fromAgentPort.length;
      // Every packet to a SaP was received and dropped, each under a reason.
      expect(d('gw:c1', ['rx'])).toBe(sent + N);
      expect(d('gw:c1', DROPS)).toBe(sent + N);
      expect(d('node:n2', ['rx'])).toBe(sent);
      expect(d('node:n2', DROPS)).toBe(sent);
      expect(d('gw:c1', ['allowed', 'allowedCached']) + d('node:n2', ['allowed', 'allowedCached'])).toBe(0);
      for (const id of ['gw:c1', 'node:n2']) {
        expect(d(id, ['badKey'])).toBe(N);
        expect(d(id, ['unknownOverlay'])).toBe(N);
        expect(d(id, ['badEpoch'])).toBe(N);
        expect(d(id, ['malformed'])).toBe(malformed.length);
      }
      expect(d('gw:c1', ['spoofedSource'])).toBe(N); // the attacker's address is an agent, but not of app/a
      expect(d('gw:c1', ['unknownSender'])).toBe(N); // right key, wrong sender
      expect(d('node:n2', ['unknownSender'])).toBe(N); // not a local agent, not a SaP
      // Nothing reached the agent of app/b; the guard dropped and counted the direct packets.
      expect(d('app/b', ['rx', 'decap'])).toBe(0);
      expect((await guardDrops(lab!, 'app/b')) - guardBefore).toBeGreaterThanOrEqual(3 * N);
    } finally {
      sink.child.kill('SIGTERM');
    }
  });
});
