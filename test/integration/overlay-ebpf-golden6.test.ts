// Golden vectors for the kernel data path's IPv6 (the IPv4 ones: overlay-ebpf-golden.test.ts): inner IPv6 in GUE
// Proto 41 and GUE over UDP/IPv6, built with the TypeScript codec, run through the loaded BPF programs with
// BPF_PROG_TEST_RUN and compared byte for byte with the user-space reference (sap/engine.ts, the codec) on the
// same packets in the same order (one reference engine, so flow and fragment caches evolve alike): forwarded
// datagrams, the outer headers of every family change a SaP makes (IPv4 in, IPv6 out and back), and for every
// dropped packet the same drop reason (spoofed IPv6 sources, malformed IPv6, families an endpoint lacks). The
// agent's vectors: overlay-ebpf-golden6-agent.test.ts. Root: a scratch namespace and bpffs pins with a run prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { sapEntries } from '../../reference-impl/ebpf/maps.ts';
import { parseSapConfig } from '../../reference-impl/sap/config.ts';
import { Forward, SapEngine } from '../../reference-impl/sap/engine.ts';
import { FlowCache } from '../../reference-impl/sap/flowcache.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import * as F from './ebpf-golden6-fixtures.ts';
import {
  GoldenLab,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  csum,
  eth,
  ext8,
  frag6,
  ip6,
  ipv4,
  ipv6,
  tcp,
  udpHdr,
} from './ebpf-golden-lib.ts';

const { K2, LISTEN, LISTEN6, AGENT_A, AGENT_C6, PEER_SAP, PEER_SAP6, SAP3, MAC, A, B, C, B2, E, D, N, v6 } =
  F;
const { sapInput, gue6, gue4, tcp6, echo6 } = F;
const lab = new GoldenLab('gold6');

let sap: BpfObject;
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
});

afterAll(() => {
  sap?.close();
  lab.close();
});

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
