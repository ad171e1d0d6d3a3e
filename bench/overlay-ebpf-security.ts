// Security figures of the kernel data path (mode overlay-ebpf), at volume: an attacker on the underlay (an
// external host whose agent is stopped, so it knows the overlay's addresses and its own agent port) sends
// --count packets of each attack to a node SaP, the gateway SaP and straight to a pod; a sink in the pod counts
// what reaches the workload (must be 0), the eBPF counters and the pod guard count every drop by reason, and
// every packet must be accounted for by the attack's expected counter (exit 1 otherwise).
//   --family ipv4      IPv4-only cluster (the default)
//   --family ipv6      IPv6-only cluster: outer IPv6/UDP underlay, inner IPv6 (GUE Proto 41)
//   --family dual      dual-stack cluster: inner IPv6 over the IPv4 underlay
//   sudo npx tsx bench/overlay-ebpf-security.ts [--count 100000] [--family ipv4|ipv6|dual] [--mode overlay-ebpf|overlay]
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { UsageError } from '../src/errors.ts';
import { gue6, ipv6Udp, malformedInner6 } from '../test/integration/overlay-attacks6.ts';
import { daemon, down, tool, up } from '../test/integration/overlay-helpers.ts';
import {
  FAMILIES,
  gue4,
  ipv4Udp,
  malformedGue,
  scenario,
  type Family,
} from '../test/integration/overlay-attacks4.ts';
import { flood, table, type Attack, type Row } from './overlay-ebpf-security-lib.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const COUNT = Number(opt('count', '100000'));
const MODE = opt('mode', 'overlay-ebpf');
const FAMILY = opt('family', 'ipv4') as Family;
try {
  if (!Number.isInteger(COUNT) || COUNT < 1)
    throw new UsageError(`--count: a positive integer, got '${opt('count', '')}'`);
  if (!FAMILIES.includes(FAMILY))
    throw new UsageError(`--family: one of ${FAMILIES.join(', ')}, got '${FAMILY}'`);
  if (MODE !== 'overlay-ebpf' && MODE !== 'overlay')
    throw new UsageError(`--mode: overlay-ebpf or overlay, got '${MODE}'`);
} catch (e) {
  console.error(`overlay-ebpf-security: ${(e as Error).message}`);
  process.exit(2);
}
const V6 = FAMILY !== 'ipv4';
// Where the pod-level attacks are counted: the eBPF agent's ingress program, which is also its pod guard, by
// reason (`unknownSender`, `plainToOverlay`, `guardDropped`); in user space the nftables pod guard drops them.
const EBPF = MODE === 'overlay-ebpf';

const t0 = performance.now();
const lab = await up(scenario(FAMILY), EBPF ? 'ebpf' : 'user');
const cleanups: (() => Promise<unknown>)[] = [];
let failed = false;
let legend = '';
try {
  const { net, ov } = lab;
  // The inner family's overlay address; the real (underlay) address of the inner family.
  const ip = (r: string) => (V6 ? ov.cp.plan!.overlayIps6!.get(r)! : ov.overlayAddress(r)!);
  const real = (r: string) => (V6 ? net.addresses!(r).find((a) => a.includes(':'))! : net.address(r));
  const sink = await daemon(net, 'app/b', 'sink', 9999);
  cleanups.push(async () => sink.child.kill('SIGTERM'));
  // Positive control: an authentic datagram through the overlay reaches the sink, from the sender's overlay address.
  await tool(net, 'app/a', 'send', { ip: ip('app/b'), port: 9999, hex: ['68656c6c6f'] });
  await new Promise((r) => setTimeout(r, 300));
  if (
    sink.lines.length !== 1 ||
    sink.lines[0]!.split(' ')
      .pop()!
      .replace(/^::ffff:/, '') !== ip('app/a')
  )
    throw new Error(`positive control failed: ${JSON.stringify(sink.lines)}`);
  await ov.procs.stop('ext:attacker'); // from now on a bare host that knows the overlay's addresses
  const { overlayId, keys, sendEpoch } = ov.cp.keys;
  const key = Buffer.from(keys[0]!.key, 'hex');
  const toB = (src: string) => (V6 ? ipv6Udp : ipv4Udp)(src, ip('app/b'), 9999, Buffer.from('attack'));
  const gue = (id: number, epoch: number, k: Buffer, inner: Buffer) =>
    (V6 ? gue6 : gue4)(id, epoch, k, inner);
  const valid = () => gue(overlayId, sendEpoch, key, toB(ip('ext:attacker')));
  const distinct = (f: () => string) => Array.from({ length: 64 }, f);

  const plan = ov.cp.plan!.saps;
  // The SaPs' primary sockets: outer IPv6 in the IPv6-only cluster, outer IPv4 otherwise (dual: inner IPv6 over it).
  const gw = plan.find((s) => s.id === 'gw:c1')!.listen;
  const n2 = plan.find((s) => s.id === 'node:n2')!.listen;
  // The pod's agent socket: on the underlay's family (IPv4 in the dual-stack cluster).
  const agentB = { ip: FAMILY === 'ipv6' ? real('app/b') : net.address('app/b'), port: 6080 };
  const att = 'ext:attacker';
  const attacks: Attack[] = [
    {
      name: 'forged key → gateway SaP',
      from: att,
      target: gw,
      bindPort: 6080,
      hex: distinct(() => gue(overlayId, sendEpoch, randomBytes(key.length), toB(ip(att)))),
      expect: ['gw:c1 badKey'],
    },
    {
      name: 'other overlay → node SaP',
      from: att,
      target: n2,
      bindPort: 6080,
      hex: distinct(() =>
        gue((overlayId + 1 + Math.floor(Math.random() * 1000)) >>> 0, sendEpoch, key, toB(ip(att))),
      ),
      expect: ['node:n2 unknownOverlay'],
    },
    {
      name: `malformed GUE (${malformedGue(valid()).length} kinds) → node SaP`,
      from: att,
      target: n2,
      bindPort: 6080,
      hex: malformedGue(valid()),
      expect: ['node:n2 malformed'],
    },
  ];
  if (V6) {
    const bad = malformedInner6(ip(att), ip('app/b'));
    attacks.push({
      name: `malformed inner IPv6, valid key (${Object.keys(bad).length} kinds) → node SaP`,
      from: att,
      target: n2,
      bindPort: 6080,
      hex: Object.values(bad).map((inner) => gue(overlayId, sendEpoch, key, inner)),
      expect: ['node:n2 malformed'],
    });
  }
  attacks.push(
    {
      name: `spoofed ${V6 ? 'inner IPv6 ' : ''}source (valid key) → gateway SaP`,
      from: att,
      target: gw,
      bindPort: 6080,
      hex: distinct(() => gue(overlayId, sendEpoch, key, toB(ip('app/a')))),
      expect: ['gw:c1 spoofedSource'],
    },
    {
      name: 'GUE with valid key straight to the pod agent',
      from: att,
      target: agentB,
      bindPort: 6080,
      hex: [valid()],
      expect: [EBPF ? 'app/b unknownSender' : 'app/b guard-drop'],
    },
    {
      name: `plain ${V6 ? 'IPv6 ' : ''}UDP to the pod's real address`,
      from: att,
      target: { ip: real('app/b'), port: 9999 },
      hex: ['61747461636b'],
      expect: [EBPF ? 'app/b guardDropped' : 'app/b guard-drop'],
    },
  );
  if (V6) {
    // Plain IPv6 to the pod's overlay address. The underlay routes no overlay prefix, so the attacker sits on
    // the pod's own node (the one hop that reaches its wire) and routes the overlay /128 to the pod's real
    // address; the pod's agent program must drop it (`plainToOverlay`; user space: the guard).
    const via = await net.exec('node:n2', ['ip', '-6', 'route', 'get', real('app/b')]);
    const dev = /\bdev (\S+)/.exec(via.stdout)?.[1];
    if (!dev) throw new Error(`node:n2 has no route to ${real('app/b')}: ${via.stdout}${via.stderr}`);
    const route = [`${ip('app/b')}/128`, 'via', real('app/b'), 'dev', dev];
    const add = await net.exec('node:n2', ['ip', '-6', 'route', 'replace', ...route]);
    if (add.code !== 0) throw new Error(`node:n2: ip -6 route replace ${route.join(' ')}: ${add.stderr}`);
    cleanups.push(() => net.exec('node:n2', ['ip', '-6', 'route', 'del', ...route]));
    attacks.push({
      name: "plain IPv6 UDP to the pod's overlay address (from its node)",
      from: 'node:n2',
      target: { ip: ip('app/b'), port: 9999 },
      hex: ['61747461636b'],
      expect: [EBPF ? 'app/b plainToOverlay' : 'app/b guard-drop'],
    });
  }

  if (V6)
    legend = `malformed inner IPv6 kinds: ${Object.keys(malformedInner6(ip(att), ip('app/b'))).join('; ')}`;
  const rows: Row[] = [];
  for (const a of attacks) rows.push(await flood(lab, a, COUNT, () => sink.lines.length, 'app/b'));
  failed = rows.some((r) => !r.ok);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `mode ${MODE}, family ${FAMILY}, ${COUNT} packets per attack, ${secs.toFixed(0)} s in all; loadavg ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(table(rows));
  if (legend) console.log(legend);
  if (failed) console.error('FAIL: an attack packet was delivered or not accounted for by its counter');
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await down(lab);
}
process.exit(failed ? 1 : 0);
