// Security figures of the kernel data path (mode overlay-ebpf), at volume: an attacker on the underlay (an
// external host whose agent is stopped, so it knows the overlay's addresses and its own agent port) sends
// --count packets of each attack to a node SaP, the gateway SaP and straight to a pod; a sink in the pod counts
// what reaches the workload (must be 0), the eBPF counters and the pod guard count every drop by reason.
//   sudo npx tsx bench/overlay-ebpf-security.ts [--count 100000] [--mode overlay-ebpf|overlay]
import { randomBytes } from 'node:crypto';
import { encodeHeader, PROTO_IPV4 } from '../reference-impl/gue/codec.ts';
import { parseScenario } from '../src/scenario/load.ts';
import { daemon, down, tool, up } from '../test/integration/overlay-helpers.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const COUNT = Number(opt('count', '100000'));
const MODE = opt('mode', 'overlay-ebpf');

const sc = parseScenario(
  'security.yaml',
  `
name: security
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: attacker }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, node: n1 }
  - { namespace: app, name: b, node: n2 }
`,
);

function ipv4Udp(src: string, dst: string, dport: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(28 + payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 10);
  b.writeUInt16BE(40000, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt16BE(8 + payload.length, 24);
  payload.copy(b, 28);
  return b;
}
function gue(overlayId: number, epoch: number, key: Buffer, inner: Buffer): string {
  const buf = Buffer.alloc(256 + inner.length);
  const hl = encodeHeader(buf, 0, PROTO_IPV4, overlayId, epoch, key);
  inner.copy(buf, hl);
  return buf.subarray(0, hl + inner.length).toString('hex');
}

const lab = await up(sc, MODE === 'overlay-ebpf' ? 'ebpf' : 'user');
try {
  const { net, ov } = lab;
  const ip = (r: string) => ov.overlayAddress(r)!;
  const sink = await daemon(net, 'app/b', 'sink', 9999);
  await tool(net, 'app/a', 'send', { ip: ip('app/b'), port: 9999, hex: ['68656c6c6f'] });
  await new Promise((r) => setTimeout(r, 300));
  if (sink.lines.length !== 1) throw new Error(`positive control failed: ${sink.lines.length} delivered`);
  await ov.procs.stop('ext:attacker');
  const { overlayId, keys, sendEpoch } = ov.cp.keys;
  const key = Buffer.from(keys[0]!.key, 'hex');
  const toB = (src: string) => ipv4Udp(src, ip('app/b'), 9999, Buffer.from('attack'));
  const distinct = (f: () => string) => Array.from({ length: 64 }, f);
  const attacks: Record<string, string[]> = {
    forgedKey: distinct(() => gue(overlayId, sendEpoch, randomBytes(key.length), toB(ip('ext:attacker')))),
    otherOverlay: distinct(() =>
      gue((overlayId + 1 + Math.floor(Math.random() * 1000)) >>> 0, sendEpoch, key, toB(ip('ext:attacker'))),
    ),
    malformed: [
      '00',
      'ffffffff',
      '1f04000000000000',
      randomBytes(3).toString('hex'),
      gue(overlayId, sendEpoch, key, toB(ip('ext:attacker'))).slice(0, 30),
      ...[
        [0, 0x40], // version 1
        [0, 0x20], // control bit
        [11, 0x01], // reserved byte
        [10, 0x07], // auth length disagrees with Hlen
        [1, 0x33], // protocol neither 4 nor 41
      ].map(([at, bits]) => {
        const b = Buffer.from(gue(overlayId, sendEpoch, key, toB(ip('ext:attacker'))), 'hex');
        b[at!] = b[at!]! ^ bits!;
        return b.toString('hex');
      }),
    ],
    spoofedSource: distinct(() => gue(overlayId, sendEpoch, key, toB(ip('app/a')))),
  };
  const gw = ov.cp.plan!.saps.find((s) => s.id === 'gw:c1')!.listen;
  const n2 = ov.cp.plan!.saps.find((s) => s.id === 'node:n2')!.listen;
  const guard = async () =>
    Number(
      /counter packets (\d+)/.exec(
        (await net.exec('app/b', ['nft', 'list', 'table', 'inet', 'ovguard'])).stdout,
      )?.[1] ?? NaN,
    );
  const rows: string[] = [];
  const flood = async (
    name: string,
    target: { ip: string; port: number },
    hex: string[],
    bindPort?: number,
  ) => {
    const before = await ov.counters();
    const g0 = await guard();
    const t0 = performance.now();
    const r = await tool(net, 'ext:attacker', 'flood', { ...target, hex, count: COUNT, bindPort }, 600_000);
    const secs = (performance.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 500));
    const after = await ov.counters();
    const deltas: string[] = [];
    for (const [id, st] of Object.entries(after))
      for (const [c, v] of Object.entries(st.counters)) {
        const d = v - (before[id]?.counters[c] ?? 0);
        if (d > 0 && c !== 'flows') deltas.push(`${id} ${c} ${d}`);
      }
    const gd = (await guard()) - g0;
    if (gd > 0) deltas.push(`app/b guard-drop ${gd}`);
    rows.push(
      `| ${name} | ${target.ip}:${target.port} | ${(r as unknown as { sent: number }).sent} | ${sink.lines.length - 1} | ${deltas.join('; ')} | ${Math.round(COUNT / secs)} |`,
    );
  };
  await flood('forged key → gateway SaP', gw, attacks.forgedKey!, 6080);
  await flood('other overlay → node SaP', n2, attacks.otherOverlay!, 6080);
  await flood('malformed → node SaP', n2, attacks.malformed!, 6080);
  await flood('spoofed source (valid key) → gateway SaP', gw, attacks.spoofedSource!, 6080);
  await flood(
    'GUE with valid key straight to the pod agent',
    { ip: net.address('app/b'), port: 6080 },
    [gue(overlayId, sendEpoch, key, toB(ip('ext:attacker')))],
    6080,
  );
  await flood('plain UDP to the pod', { ip: net.address('app/b'), port: 9999 }, ['61747461636b']);
  console.log(
    `mode ${MODE}, ${COUNT} packets per attack; loadavg ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    '| attack | target | sent | delivered to the workload (cumulative) | counted (process, reason, packets) | pps sent |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  sink.child.kill('SIGTERM');
} finally {
  await down(lab);
}
