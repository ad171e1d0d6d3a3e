// The attack test of overlay-security.test.ts over IPv6: inner IPv6 (GUE Proto 41) forged-key, other-overlay,
// bad-epoch, malformed, spoofed-source and stolen-key packets to the SaPs, GUE and plain IPv6 straight to a pod.
// Twice: an IPv6-only cluster (outer IPv6/UDP underlay) and a dual-stack one (inner IPv6 over the IPv4
// underlay). No policies: only authentication, the sender check and the pod guard stand in the way; nothing
// may reach the workload, and every packet is counted under a reason.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/load.ts';
import { gue6 as gue, ipv6Udp } from './overlay-attacks6.ts';
import { daemon, down, tool, up, type Lab } from './overlay-helpers.ts';

const scenario = (families: string) =>
  parseScenario(
    'security6.yaml',
    `
name: security6
topology:
  clusters: [{ name: c1, ipFamilies: ${families}, nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: attacker }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, node: n1 }
  - { namespace: app, name: b, node: n2 }
`,
  );

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

describe.each([
  ['IPv6-only cluster, outer IPv6', '[IPv6]'],
  ['dual-stack cluster, inner IPv6 over the IPv4 underlay', '[IPv4, IPv6]'],
])('overlay under attack over IPv6: %s', (_label, families) => {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await up(scenario(families));
  });
  afterAll(() => down(lab));

  it('delivers nothing forged, spoofed, malformed or plain, and counts every packet', async () => {
    const { net, ov } = lab!;
    const ip6 = (r: string) => ov.cp.plan!.overlayIps6!.get(r)!;
    const real6 = (r: string) => net.addresses!(r).find((a) => a.includes(':'))!;
    const sink = await daemon(net, 'app/b', 'sink', 9999);
    try {
      // Positive control: an authentic IPv6 datagram through the overlay reaches the sink.
      await tool(net, 'app/a', 'send', {
        ip: ip6('app/b'),
        port: 9999,
        hex: [Buffer.from('hello').toString('hex')],
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(sink.lines).toHaveLength(1);
      expect(sink.lines[0]).toContain(ip6('app/a'));

      await ov.procs.stop('ext:attacker'); // from now on a bare host that knows the overlay's addresses
      const { overlayId, keys, sendEpoch } = ov.cp.keys;
      const key = Buffer.from(keys[0]!.key, 'hex');
      const toB = (src: string) => ipv6Udp(src, ip6('app/b'), 9999, Buffer.from('attack'));
      const N = 5;
      const rep = (f: () => string) => Array.from({ length: N }, f);
      const forged = rep(() => gue(overlayId, sendEpoch, randomBytes(key.length), toB(ip6('ext:attacker'))));
      const otherOverlay = rep(() =>
        gue((overlayId + 1) >>> 0, sendEpoch, randomBytes(key.length), toB(ip6('ext:attacker'))),
      );
      const badEpoch = rep(() => gue(overlayId, (sendEpoch + 7) % 256, key, toB(ip6('ext:attacker'))));
      const malformed = [
        '00',
        'ffffffff',
        '1f29000000000000',
        randomBytes(3).toString('hex'),
        gue(overlayId, sendEpoch, key, toB(ip6('ext:attacker'))).slice(0, 30),
      ];
      const spoofed = rep(() => gue(overlayId, sendEpoch, key, toB(ip6('app/a'))));
      const own = rep(() => gue(overlayId, sendEpoch, key, toB(ip6('ext:attacker'))));
      const plan = ov.cp.plan!.saps;
      // The SaPs' primary sockets: outer IPv6 in the IPv6-only cluster, outer IPv4 (inner IPv6) in the dual-stack one,
      // where the attacker's registered agent address is its IPv4 one.
      const gw = plan.find((x) => x.id === 'gw:c1')!.listen;
      const n2 = plan.find((x) => x.id === 'node:n2')!.listen;

      const before = await ov.counters();
      const guardBefore = await guardDrops(lab!, 'app/b');
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
      // With the stolen key, from a port no agent owns: unknown sender.
      await tool(net, 'ext:attacker', 'send', { ip: gw.ip, port: gw.port, hex: own });
      // Straight to the pod's real IPv6 address: GUE to its agent, and plain UDP to its workload.
      await tool(net, 'ext:attacker', 'send', { ip: real6('app/b'), port: 6080, hex: own, bindPort: 6080 });
      await tool(net, 'ext:attacker', 'send', {
        ip: real6('app/b'),
        port: 9999,
        hex: rep(() => '61747461636b'),
      });
      await tool(net, 'app/a', 'send', { ip: real6('app/b'), port: 9999, hex: rep(() => '706c61696e') });
      await new Promise((r) => setTimeout(r, 500));
      const after = await ov.counters();

      expect(sink.lines).toHaveLength(1); // still only the positive control
      const d = (id: string, names: string[]) =>
        sum(after[id]!.counters, names) - sum(before[id]!.counters, names);
      const sent = fromAgentPort.length;
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
      expect(d('gw:c1', ['spoofedSource'])).toBe(N);
      expect(d('gw:c1', ['unknownSender'])).toBe(N);
      expect(d('node:n2', ['unknownSender'])).toBe(N);
      expect(d('app/b', ['rx', 'decap'])).toBe(0);
      expect((await guardDrops(lab!, 'app/b')) - guardBefore).toBeGreaterThanOrEqual(3 * N);
    } finally {
      sink.child.kill('SIGTERM');
    }
  });
});
