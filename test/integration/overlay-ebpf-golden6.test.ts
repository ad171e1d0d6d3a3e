// Golden vectors for the kernel data path's IPv6 (the IPv4 ones: overlay-ebpf-golden.test.ts): inner IPv6 in GUE
// Proto 41 and GUE over UDP/IPv6, built with the TypeScript codec, run through the loaded BPF programs with
// BPF_PROG_TEST_RUN and compared byte for byte with the user-space reference (sap/engine.ts, the codec) on the
// same packets in the same order (one reference engine, so flow and fragment caches evolve alike): forwarded
// datagrams, the outer headers of every family change a SaP makes (IPv4 in, IPv6 out and back), the agent's
// encapsulation and decapsulation both ways, and for every dropped packet the same drop reason (spoofed IPv6
// sources, malformed IPv6, families an endpoint lacks). Root: a scratch namespace and bpffs pins with a run prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, type AgentConfigInput } from '../../reference-impl/agent/config.ts';
import { overlayIp6 } from '../../reference-impl/control-plane/addressing6.ts';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { agentEntries, sapEntries } from '../../reference-impl/ebpf/maps.ts';
import { PROTO_IPV4, PROTO_IPV6 } from '../../reference-impl/gue/codec.ts';
import { type SapConfigInput, parseSapConfig } from '../../reference-impl/sap/config.ts';
import { Forward, SapEngine } from '../../reference-impl/sap/engine.ts';
import { FlowCache } from '../../reference-impl/sap/flowcache.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import {
  GoldenLab,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  csum,
  eth,
  ext8,
  frag6,
  gue as gueOf,
  ip6,
  ipv4,
  ipv6,
  tcp,
  udpHdr,
} from './ebpf-golden-lib.ts';

const lab = new GoldenLab('gold6');
const K1 = '00112233445566778899aabbccddeeff';
const K2 = 'ffeeddccbbaa99887766554433221100';
const LISTEN = '198.18.0.1';
const LISTEN6 = 'fd00:198:18::1';
const AGENT_A = '198.18.0.5'; // IPv4 underlay
const AGENT_C6 = 'fd00:198:18::6'; // IPv6 underlay
const PEER_SAP = '198.18.0.2';
const PEER_SAP6 = 'fd00:198:18::2';
const SAP3 = 'fd00:198:18::3'; // a peer SaP on the IPv6 underlay only
const MAC = {
  peer: '020000000002',
  peer6: '020000000012',
  sap3: '020000000003',
  a: '020000000005',
  c: '020000000006',
};
const A = '100.64.0.1';
const B = '100.64.0.2';
const C = '100.64.0.3'; // local, IPv6 only, its agent on the IPv6 underlay
const B2 = '100.64.0.4';
const E = '100.64.0.5'; // local, IPv4 only
const D = '100.64.0.8'; // behind SAP3
const N = '100.64.0.9'; // the except hole
const v6 = (x: string) => overlayIp6(x);

const sapInput: SapConfigInput = {
  version: 3,
  sapId: 's1',
  overlayId: 77,
  keys: [
    { epoch: 1, key: K1 },
    { epoch: 2, key: K2 },
  ],
  sendEpoch: 2,
  listen: { ip: LISTEN, port: 6080 },
  listen6: { ip: LISTEN6, port: 6080 },
  endpoints: [
    {
      overlayIp: A,
      sap: 's1',
      agent: { ip: AGENT_A, port: 6080 },
      ipv4: true,
      ipv6: true,
      isolatedEgress: true,
      egress: [], // over IPv4 A may send nothing: the IPv6 rules below must not leak into IPv4
      egress6: [
        {
          peers: [{ cidr: '100.64.0.0/24', except: [`${N}/32`] }],
          ports: [{ protocol: 'TCP', portFrom: 80, portTo: 80 }],
        },
        { peers: [{ cidr: `${B}/32` }] },
      ],
    },
    { overlayIp: C, sap: 's1', agent: { ip: AGENT_C6, port: 6080 }, ipv4: false, ipv6: true },
    { overlayIp: E, sap: 's1', agent: { ip: '198.18.0.7', port: 6080 }, ipv4: true, ipv6: false },
    { overlayIp: B, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: B2, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: N, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: D, sap: 's3', ipv4: false, ipv6: true },
  ],
  saps: [
    { id: 's2', addr: { ip: PEER_SAP, port: 6080 }, addr6: { ip: PEER_SAP6, port: 6080 } },
    { id: 's3', addr: { ip: SAP3, port: 6080 } },
  ],
};
const agentA: AgentConfigInput = {
  version: 3,
  overlayId: 77,
  overlayIp: A,
  overlayCidr: '100.64.0.0/10',
  overlayIp6: v6(A),
  overlayCidr6: 'fd64:ffff::/96',
  keys: [
    { epoch: 1, key: K1 },
    { epoch: 2, key: K2 },
  ],
  sendEpoch: 1,
  listen: { ip: AGENT_A, port: 6080 },
  sap: { ip: LISTEN, port: 6080 },
};
const agentC: AgentConfigInput = {
  ...agentA,
  overlayIp: C,
  overlayIp6: v6(C),
  listen: { ip: AGENT_C6, port: 6080 },
  sap: { ip: LISTEN6, port: 6080 },
};

let sap: BpfObject;
let agent4: BpfObject;
let agent6: BpfObject;
let ifMac = '';

beforeAll(() => {
  lab.up(
    [`${LISTEN}/24`, `${LISTEN6}/64`],
    [
      [PEER_SAP, MAC.peer],
      [PEER_SAP6, MAC.peer6],
      [SAP3, MAC.sap3],
      [AGENT_A, MAC.a],
      [AGENT_C6, MAC.c],
    ],
  );
  ifMac = lab.ifMac;
  sap = new BpfObject('sap', `${lab.pins}/sap`);
  sap.program(sapEntries(parseSapConfig(sapInput), sap.nextSlot()), 3);
  agent4 = new BpfObject('agent', `${lab.pins}/agent4`);
  agent4.program(agentEntries(parseAgentConfig(agentA), agent4.nextSlot()), 3);
  agent6 = new BpfObject('agent', `${lab.pins}/agent6`);
  agent6.program(agentEntries(parseAgentConfig(agentC), agent6.nextSlot()), 3);
});

afterAll(() => {
  sap?.close();
  agent4?.close();
  agent6?.close();
  lab.close();
});

const gue6 = (inner: Buffer, epoch = 1, key = K1) => gueOf(inner, epoch, key, 77, PROTO_IPV6);
const gue4 = (inner: Buffer, epoch = 1, key = K1) => gueOf(inner, epoch, key, 77, PROTO_IPV4);
const tcp6 = (src: string, dst: string, sport: number, dport: number) =>
  ipv6(v6(src), v6(dst), 6, tcp(sport, dport));
const echo6 = (src: string, dst: string, type: number, id: number) => {
  const m = Buffer.alloc(8);
  m[0] = type;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(1, 6);
  return ipv6(v6(src), v6(dst), 58, m);
};

/** A GUE datagram arriving at the SaP from (src, 6080) over the source's underlay family. */
function toSap(dgram: Buffer, src: string): Buffer {
  const macOf: Record<string, string> = { [PEER_SAP6]: MAC.peer6, [AGENT_C6]: MAC.c, [PEER_SAP]: MAC.peer };
  const mac = macOf[src] ?? MAC.a;
  const l4 = udpHdr(6080, 6080, dgram);
  return eth(ifMac, mac, src.includes(':') ? ipv6(src, LISTEN6, 17, l4) : ipv4(src, LISTEN, 17, l4));
}

// One reference engine for the whole file, fed the same packets in the same order as the BPF SaP.
const refCounters: Record<string, number> = {};
const engine = new SapEngine(parseSapConfig(sapInput), refCounters, new FlowCache());
function reference(dgram: Buffer, from: string) {
  const before = { ...refCounters };
  const out = new Forward();
  const buf = Buffer.from(dgram);
  const ok = engine.process(buf, buf.length, from, 6080, performance.now(), out);
  const delta = Object.fromEntries(
    Object.entries(refCounters)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([k, v]) => v > 0 && k !== 'rx'),
  );
  return {
    ok,
    out: Buffer.from(out.buf.subarray(out.off, out.off + out.len)),
    ip: out.ip,
    port: out.port,
    delta,
  };
}

/**
 * Runs the SaP on the datagram and checks it against the reference (which must forward it, or drop it when
 * `forwarded` is false); returns the BPF output frame.
 */
function sapMatches(dgram: Buffer, from: string, forwarded = true): Buffer {
  const want = reference(dgram, from);
  expect(want.ok).toBe(forwarded);
  const r = lab.run(sap, 'sap_ingress', toSap(dgram, from));
  const { rx, ...reasons } = r.counters;
  expect(rx).toBe(1);
  expect(reasons).toEqual(want.delta);
  if (!want.ok) {
    expect(r.retval).toBe(TC_ACT_SHOT);
    return r.out;
  }
  expect(r.retval).toBe(TC_ACT_REDIRECT);
  const out6 = want.ip.includes(':');
  const l3 = out6 ? 40 : 20;
  // L2 from the FIB, outer header of the hop's family toward the hop, UDP (no checksum), the reference bytes.
  expect(r.out.subarray(12, 14).toString('hex')).toBe(out6 ? '86dd' : '0800');
  const ip = r.out.subarray(14, 14 + l3);
  const udp = r.out.subarray(14 + l3, 22 + l3);
  if (out6) {
    expect(ip[0]! >> 4).toBe(6);
    expect(ip.readUInt16BE(4)).toBe(r.out.length - 54);
    expect(ip[6]).toBe(17);
    expect(ip[7]).toBe(64);
    expect(ip.subarray(8, 24).toString('hex')).toBe(ip6(LISTEN6).toString('hex'));
    expect(ip.subarray(24, 40).toString('hex')).toBe(ip6(want.ip).toString('hex'));
  } else {
    expect(ip[0]).toBe(0x45);
    expect(ip.readUInt16BE(2)).toBe(r.out.length - 14);
    expect(ip[9]).toBe(17);
    expect(csum(ip)).toBe(0);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(LISTEN));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(want.ip));
  }
  expect(udp.readUInt16BE(0)).toBe(6080);
  expect(udp.readUInt16BE(2)).toBe(want.port);
  expect(udp.readUInt16BE(4)).toBe(r.out.length - 14 - l3);
  expect(udp.readUInt16BE(6)).toBe(0);
  expect(r.out.subarray(22 + l3).toString('hex')).toBe(want.out.toString('hex'));
  return r.out;
}

describe('eBPF SaP vs user-space SaP on IPv6 golden packets', () => {
  it('inner IPv6 from an IPv4-underlay agent: re-keyed and forwarded over IPv4', () => {
    const out = sapMatches(gue6(tcp6(A, B, 40000, 80)), AGENT_A);
    expect(out.subarray(0, 12).toString('hex')).toBe(MAC.peer + ifMac);
  });

  it('the reply from the peer SaP over IPv6 passes from the flow cache and leaves over IPv4 (6 → 4)', () => {
    const out = sapMatches(gue6(tcp6(B, A, 80, 40000), 2, K2), PEER_SAP6);
    expect(out.subarray(0, 6).toString('hex')).toBe(MAC.a);
  });

  it('a hop on the IPv6 underlay: the outer header becomes IPv6 (4 → 6)', () => {
    const out = sapMatches(gue6(tcp6(A, D, 40000, 80)), AGENT_A);
    expect(out.subarray(0, 6).toString('hex')).toBe(MAC.sap3);
  });

  it('an agent on the IPv6 underlay is checked by its IPv6 address and port', () => {
    sapMatches(gue6(tcp6(C, B, 5000, 443)), AGENT_C6);
  });

  it('ports behind extension headers (hop-by-hop, destination options) decide', () => {
    const withExt = (dport: number) =>
      ipv6(v6(A), v6(B2), 0, Buffer.concat([ext8(60), ext8(6), tcp(40000, dport)]));
    sapMatches(gue6(withExt(80)), AGENT_A);
    const r = lab.run(sap, 'sap_ingress', toSap(gue6(withExt(81)), AGENT_A));
    expect(reference(gue6(withExt(81)), AGENT_A).delta).toEqual({ deniedPolicy: 1 });
    expect(r.counters).toEqual({ rx: 1, deniedPolicy: 1 });
  });

  it('eight extension headers are walked; a routing header and AH are sized as RFC 8200 says', () => {
    const ah = Buffer.alloc(12);
    ah[0] = 6;
    ah[1] = 1; // (1 + 2) * 4 = 12 bytes
    const chain = Buffer.concat([...Array.from({ length: 7 }, (_, i) => ext8(i === 6 ? 51 : 43)), ah]);
    // To B2 only TCP 80 is allowed: a misread chain would read other ports and be denied.
    sapMatches(gue6(ipv6(v6(A), v6(B2), 43, Buffer.concat([chain, tcp(1, 80)]))), AGENT_A);
  });

  it('ICMPv6 echo: request allowed, the reply matches it by identifier; a port rule does not admit ICMPv6', () => {
    sapMatches(gue6(echo6(A, B, 128, 0x4242)), AGENT_A);
    sapMatches(gue6(echo6(B, A, 129, 0x4242), 2, K2), PEER_SAP6);
    sapMatches(gue6(echo6(A, B2, 128, 0x4243)), AGENT_A, false);
  });

  it('fragments: the first decides, later ones with its id follow, others are dropped', () => {
    const first = ipv6(v6(A), v6(B2), 44, Buffer.concat([frag6(6, 0, true, 0xdeadbeef), tcp(40002, 80)]));
    sapMatches(gue6(first), AGENT_A);
    const later = (id: number) =>
      ipv6(v6(A), v6(B2), 44, Buffer.concat([frag6(6, 3, false, id), Buffer.alloc(8)]));
    sapMatches(gue6(later(0xdeadbeef)), AGENT_A);
    sapMatches(gue6(later(0xdeadbeee)), AGENT_A, false);
  });

  const nine = ipv6(
    v6(A),
    v6(B),
    60,
    Buffer.concat([...Array.from({ length: 9 }, (_, i) => ext8(i === 8 ? 6 : 60)), tcp(1, 2)]),
  );
  const long = tcp6(A, B, 1, 80);
  long.writeUInt16BE(100, 4); // payload length beyond the datagram
  const cut = ipv6(v6(A), v6(B), 0, Buffer.alloc(4)); // a hop-by-hop header cut short
  const drops: [string, () => { dgram: Buffer; from: string }][] = [
    [
      'IPv4 under IPv6-only rules (families apart)',
      () => ({ dgram: gue4(ipv4(A, B, 6, tcp(1, 80))), from: AGENT_A }),
    ],
    ['spoofed IPv6 source (agent A as C)', () => ({ dgram: gue6(tcp6(C, B, 1, 80)), from: AGENT_A })],
    [
      'spoofed IPv6 source over the IPv6 underlay (agent C as A)',
      () => ({ dgram: gue6(tcp6(A, B, 1, 80)), from: AGENT_C6 }),
    ],
    ['unknown IPv6 sender', () => ({ dgram: gue6(tcp6(A, B, 1, 80)), from: 'fd00:198:18::77' })],
    [
      'peer SaP over IPv6 speaking for a local endpoint',
      () => ({ dgram: gue6(tcp6(A, B, 1, 80)), from: PEER_SAP6 }),
    ],
    ['except hole', () => ({ dgram: gue6(tcp6(A, N, 1, 80)), from: AGENT_A })],
    ['denied port', () => ({ dgram: gue6(tcp6(A, B2, 1, 81)), from: AGENT_A })],
    ['IPv6 to an IPv4-only endpoint', () => ({ dgram: gue6(tcp6(A, E, 1, 80)), from: AGENT_A })],
    ['IPv4 from an IPv6-only endpoint', () => ({ dgram: gue4(ipv4(C, B, 6, tcp(1, 80))), from: AGENT_C6 })],
    [
      'destination outside the overlay /96',
      () => ({ dgram: gue6(ipv6(v6(A), 'fd00::1', 6, tcp(1, 80))), from: AGENT_A }),
    ],
    ['payload length beyond the datagram', () => ({ dgram: gue6(long), from: AGENT_A })],
    ['nine extension headers', () => ({ dgram: gue6(nine), from: AGENT_A })],
    ['extension header cut short', () => ({ dgram: gue6(cut), from: AGENT_A })],
    [
      'TCP header under 4 bytes',
      () => ({ dgram: gue6(ipv6(v6(A), v6(B), 6, Buffer.alloc(3))), from: AGENT_A }),
    ],
    ['ICMPv6 under 8 bytes', () => ({ dgram: gue6(ipv6(v6(A), v6(B), 58, Buffer.alloc(6))), from: AGENT_A })],
    ['inner IPv6 under 40 bytes', () => ({ dgram: gue6(tcp6(A, B, 1, 80).subarray(0, 30)), from: AGENT_A })],
    ['Proto 41 with an IPv4 packet', () => ({ dgram: gue6(ipv4(A, B, 6, tcp(1, 80))), from: AGENT_A })],
    ['Proto 4 with an IPv6 packet', () => ({ dgram: gue4(tcp6(A, B, 1, 80)), from: AGENT_A })],
    [
      'forged key over the IPv6 underlay',
      () => ({ dgram: gue6(tcp6(C, B, 1, 80), 1, 'ab'.repeat(16)), from: AGENT_C6 }),
    ],
  ];
  for (const [name, make] of drops)
    it(`drops "${name}" for the same reason as user space`, () => {
      const { dgram, from } = make();
      sapMatches(dgram, from, false);
    });

  it('leaves IPv6 that is not GUE for this SaP alone (neighbour discovery, other ports)', () => {
    const ns = eth(
      ifMac,
      MAC.peer6,
      ipv6('fe80::2', 'ff02::1:ff00:1', 58, Buffer.from('8700000000000000', 'hex'), 255),
    );
    for (const f of [
      ns,
      eth(ifMac, MAC.peer6, ipv6(PEER_SAP6, LISTEN6, 17, udpHdr(6080, 53, Buffer.alloc(4)))),
    ]) {
      const r = lab.run(sap, 'sap_ingress', f);
      expect(r.retval | 0).toBe(-1);
      expect(r.out.toString('hex')).toBe(f.toString('hex'));
      expect(r.counters).toEqual({});
    }
  });
});

describe('eBPF agent vs the codec on IPv6 golden packets', () => {
  const outer4 = (out: Buffer, src: string, dst: string, dgram: Buffer) => {
    const ip = out.subarray(14, 34);
    expect(ip[0]).toBe(0x45);
    expect(ip.readUInt16BE(2)).toBe(28 + dgram.length);
    expect(csum(ip)).toBe(0);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(src));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(dst));
    expect(out.subarray(34, 42).toString('hex')).toBe(
      udpHdr(6080, 6080, dgram).subarray(0, 8).toString('hex'),
    );
    expect(out.subarray(42).toString('hex')).toBe(dgram.toString('hex'));
  };
  const outer6 = (out: Buffer, src: string, dst: string, dgram: Buffer) => {
    const ip = out.subarray(14, 54);
    expect(ip.readUInt32BE(0)).toBe(0x60000000);
    expect(ip.readUInt16BE(4)).toBe(8 + dgram.length);
    expect(ip[6]).toBe(17);
    expect(ip[7]).toBe(64);
    expect(ip.subarray(8, 24).toString('hex')).toBe(ip6(src).toString('hex'));
    expect(ip.subarray(24, 40).toString('hex')).toBe(ip6(dst).toString('hex'));
    // Ports and length as the user-space agent's socket would send; the checksum is zero (RFC 6935).
    expect(out.subarray(54, 62).toString('hex')).toBe(
      udpHdr(6080, 6080, dgram).subarray(0, 8).toString('hex'),
    );
    expect(out.subarray(62).toString('hex')).toBe(dgram.toString('hex'));
  };

  it('IPv4 underlay: inner IPv6 to the overlay /96 gets the Proto 41 header, L2 left to the neighbour lookup', () => {
    const inner = tcp6(A, B, 40000, 80);
    const r = lab.run(agent4, 'agent_egress', eth(MAC.peer, ifMac, inner));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.counters).toEqual({ encap: 1 });
    outer4(r.out, AGENT_A, LISTEN, gue6(inner));
  });

  it('IPv6 underlay: both inner families over UDP/IPv6 with the user-space agent header', () => {
    const in6 = tcp6(C, B, 40000, 80);
    const r6 = lab.run(agent6, 'agent_egress', eth(MAC.peer6, ifMac, in6));
    expect(r6.retval).toBe(TC_ACT_OK);
    expect(r6.counters).toEqual({ encap: 1 });
    expect(r6.out.subarray(12, 14).toString('hex')).toBe('86dd');
    outer6(r6.out, AGENT_C6, LISTEN6, gue6(in6));
    const in4 = ipv4(C, B, 17, udpHdr(1, 2, Buffer.alloc(4)));
    const r4 = lab.run(agent6, 'agent_egress', eth(MAC.peer6, ifMac, in4));
    expect(r4.retval).toBe(TC_ACT_REDIRECT);
    outer6(r4.out, AGENT_C6, LISTEN6, gue4(in4));
  });

  it('leaves neighbour discovery and IPv6 outside the overlay alone', () => {
    const frames = [
      eth(
        '333300000001',
        ifMac,
        ipv6('fe80::5', 'ff02::1:ff00:2', 58, Buffer.from('8700000000000000', 'hex'), 255),
      ),
      eth(MAC.peer, ifMac, ipv6('fd00:198:18::5', PEER_SAP6, 6, tcp(1, 2))),
    ];
    for (const f of frames) {
      const r = lab.run(agent4, 'agent_egress', f);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out.toString('hex')).toBe(f.toString('hex'));
      const q = lab.run(agent4, 'agent_ingress', f);
      expect(q.retval).toBe(TC_ACT_OK);
      expect(q.counters).toEqual({});
    }
  });

  it('decapsulates inner IPv6 from an IPv4 outer header (EtherType follows), marked for the pod guard', () => {
    const inner = tcp6(B, A, 80, 40000);
    const frame = eth(ifMac, MAC.peer, ipv4(LISTEN, AGENT_A, 17, udpHdr(6080, 6080, gue6(inner, 2, K2))));
    const r = lab.run(agent4, 'agent_ingress', frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.counters).toEqual({ rx: 1, decap: 1 });
    expect(r.out.subarray(12, 14).toString('hex')).toBe('86dd');
    expect(r.out.subarray(14).toString('hex')).toBe(inner.toString('hex'));
    expect(r.mark).toBe(0x6080);
  });

  it('decapsulates both inner families from an IPv6 outer header', () => {
    for (const inner of [tcp6(B, C, 80, 40000), ipv4(B, C, 6, tcp(80, 40000))]) {
      const dgram = inner[0]! >> 4 === 6 ? gue6(inner) : gue4(inner);
      const frame = eth(ifMac, MAC.peer6, ipv6(LISTEN6, AGENT_C6, 17, udpHdr(6080, 6080, dgram)));
      const r = lab.run(agent6, 'agent_ingress', frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.counters).toEqual({ rx: 1, decap: 1 });
      expect(r.out.subarray(12, 14).toString('hex')).toBe(inner[0]! >> 4 === 6 ? '86dd' : '0800');
      expect(r.out.subarray(14).toString('hex')).toBe(inner.toString('hex'));
      expect(r.mark).toBe(0x6080);
    }
  });

  const agentDrops: [string, BpfObject | (() => BpfObject), () => Buffer, string][] = [
    [
      'plain IPv6 to the overlay IPv6 address',
      () => agent4,
      () => eth(ifMac, MAC.peer, tcp6(B, A, 80, 1)),
      'plainToOverlay',
    ],
    [
      'inner IPv6 for another overlay address',
      () => agent4,
      () => eth(ifMac, MAC.peer, ipv4(LISTEN, AGENT_A, 17, udpHdr(6080, 6080, gue6(tcp6(B, C, 80, 1))))),
      'notForMe',
    ],
    [
      'GUE over IPv6 from a sender that is not its SaP',
      () => agent6,
      () => eth(ifMac, MAC.peer6, ipv6(PEER_SAP6, AGENT_C6, 17, udpHdr(6080, 6080, gue6(tcp6(B, C, 80, 1))))),
      'unknownSender',
    ],
    [
      'forged key over IPv6',
      () => agent6,
      () =>
        eth(
          ifMac,
          MAC.peer6,
          ipv6(LISTEN6, AGENT_C6, 17, udpHdr(6080, 6080, gue6(tcp6(B, C, 80, 1), 1, 'cd'.repeat(16)))),
        ),
      'badKey',
    ],
  ];
  for (const [name, obj, frame, reason] of agentDrops)
    it(`drops ${name} (${reason})`, () => {
      const r = lab.run(typeof obj === 'function' ? obj() : obj, 'agent_ingress', frame());
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.counters[reason]).toBe(1);
    });
});
