// Golden vectors for the kernel agent's IPv6 (the SaP's: overlay-ebpf-golden6.test.ts): inner IPv6 wrapped in
// exactly the user-space agent's Proto 41 header, both inner families over UDP/IPv6, decapsulation with the
// EtherType following the inner family, neighbour discovery left alone, and drops by reason. BPF_PROG_TEST_RUN
// in a scratch namespace; bpffs pins with a run prefix, all removed afterwards. Root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../reference-impl/agent/config.ts';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { agentEntries } from '../../reference-impl/ebpf/maps.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import * as F from './ebpf-golden6-fixtures.ts';
import {
  GoldenLab,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  csum,
  eth,
  ip6,
  ipv4,
  ipv6,
  tcp,
  udpHdr,
} from './ebpf-golden-lib.ts';

const { K2, LISTEN, LISTEN6, AGENT_A, AGENT_C6, PEER_SAP6, MAC, A, B, C, agentA, agentC, gue6, gue4, tcp6 } =
  F;
const lab = new GoldenLab('gold6a');
let agent4: BpfObject;
let agent6: BpfObject;
let ifMac = '';

beforeAll(() => {
  lab.up([`${LISTEN}/24`, `${LISTEN6}/64`], []);
  ifMac = lab.ifMac;
  agent4 = new BpfObject('agent', `${lab.pins}/agent4`);
  agent4.program(agentEntries(parseAgentConfig(agentA), agent4.nextSlot()), 3);
  agent6 = new BpfObject('agent', `${lab.pins}/agent6`);
  agent6.program(agentEntries(parseAgentConfig(agentC), agent6.nextSlot()), 3);
});

afterAll(() => {
  agent4?.close();
  agent6?.close();
  lab.close();
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

  it('leaves neighbour discovery and IPv6 outside the overlay alone; plain IPv6 enters only as a reply', () => {
    const nd = eth(
      '333300000001',
      ifMac,
      ipv6('fe80::5', 'ff02::1:ff00:2', 58, Buffer.from('8700000000000000', 'hex'), 255),
    );
    const plain = eth(MAC.peer, ifMac, ipv6('fd00:198:18::5', PEER_SAP6, 6, tcp(1, 2)));
    for (const f of [nd, plain]) {
      const r = lab.run(agent4, 'agent_egress', f);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out.toString('hex')).toBe(f.toString('hex'));
    }
    const q = lab.run(agent4, 'agent_ingress', nd);
    expect(q.retval).toBe(TC_ACT_OK);
    expect(q.counters).toEqual({});
    // The pod guard (guard.h): the reply of the flow just sent enters, the same peer's other port does not.
    const reply = lab.run(
      agent4,
      'agent_ingress',
      eth(ifMac, MAC.peer, ipv6(PEER_SAP6, 'fd00:198:18::5', 6, tcp(2, 1))),
    );
    expect([reply.retval, reply.counters]).toEqual([TC_ACT_OK, {}]);
    const other = lab.run(
      agent4,
      'agent_ingress',
      eth(ifMac, MAC.peer, ipv6(PEER_SAP6, 'fd00:198:18::5', 6, tcp(3, 1))),
    );
    expect([other.retval, other.counters]).toEqual([TC_ACT_SHOT, { guardDropped: 1 }]);
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
