// Golden vectors for the kernel data path: packets built with the TypeScript codec (gue/codec.ts) are run
// through the loaded BPF programs with BPF_PROG_TEST_RUN (`bpftool prog run`) and compared byte for byte with
// what the user-space reference (sap/engine.ts, the codec) produces for the same packet, both ways: the SaP's
// re-encapsulated output, the agent's encapsulation and decapsulation, and for every dropped packet the same
// drop reason in the counters. Root: a scratch namespace (for the SaP's FIB lookup) and bpffs pins carrying a
// run prefix, all removed afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, type AgentConfigInput } from '../../reference-impl/agent/config.ts';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { agentEntries, sapEntries } from '../../reference-impl/ebpf/maps.ts';
import { DROP, GueHeader, Keyring, decode, verify } from '../../reference-impl/gue/codec.ts';
import { type SapConfigInput, parseSapConfig } from '../../reference-impl/sap/config.ts';
import { Forward, SapEngine } from '../../reference-impl/sap/engine.ts';
import { FlowCache } from '../../reference-impl/sap/flowcache.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import {
  GoldenLab,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  TC_ACT_UNSPEC,
  csum,
  eth,
  gue as gueOf,
  ipv4,
  tcp,
  udpHdr,
} from './ebpf-golden-lib.ts';

const lab = new GoldenLab('gold');
const K1 = '00112233445566778899aabbccddeeff';
const K2 = 'ffeeddccbbaa99887766554433221100';
const LISTEN = '198.18.0.1';
const AGENT_A = '198.18.0.5';
const PEER_SAP = '198.18.0.2';
const PEER_MAC = '020000000002';
const AGENT_MAC = '020000000005';
const A = '100.64.0.1';
const C = '100.64.0.3'; // another local endpoint
const B = '100.64.0.2'; // behind the peer SaP

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
  endpoints: [
    {
      overlayIp: A,
      sap: 's1',
      agent: { ip: AGENT_A, port: 6080 },
      isolatedEgress: true,
      egress: [
        {
          peers: [{ cidr: '100.64.0.0/24', except: ['100.64.0.9/32'] }],
          ports: [{ protocol: 'TCP', portFrom: 80, portTo: 80 }],
        },
      ],
    },
    { overlayIp: C, sap: 's1', agent: { ip: '198.18.0.6', port: 6080 } },
    { overlayIp: B, sap: 's2' },
  ],
  saps: [{ id: 's2', addr: { ip: PEER_SAP, port: 6080 } }],
};
const agentInput: AgentConfigInput = {
  version: 3,
  overlayId: 77,
  overlayIp: A,
  overlayCidr: '100.64.0.0/10',
  keys: [
    { epoch: 1, key: K1 },
    { epoch: 2, key: K2 },
  ],
  sendEpoch: 1,
  listen: { ip: AGENT_A, port: 6080 },
  sap: { ip: LISTEN, port: 6080 },
  acceptFrom: [{ ip: PEER_SAP, port: 6080 }],
};

let sap: BpfObject;
let agent: BpfObject;
let ifMac = '';

beforeAll(() => {
  lab.up(
    [`${LISTEN}/24`],
    [
      [PEER_SAP, PEER_MAC],
      [AGENT_A, AGENT_MAC],
    ],
  );
  ifMac = lab.ifMac;
  sap = new BpfObject('sap', `${lab.pins}/sap`);
  sap.program(sapEntries(parseSapConfig(sapInput), sap.nextSlot()), 3);
  agent = new BpfObject('agent', `${lab.pins}/agent`);
  agent.program(agentEntries(parseAgentConfig(agentInput), agent.nextSlot()), 3);
});

afterAll(() => {
  sap?.close();
  agent?.close();
  lab.close();
});

const runProg = (obj: BpfObject, prog: string, frame: Buffer) => lab.run(obj, prog, frame);
const gue = (inner: Buffer, epoch = 1, key = K1, overlayId = 77) => gueOf(inner, epoch, key, overlayId);
/** A GUE datagram as an underlay frame arriving at the SaP from (srcIp, 6080). */
function toSap(datagram: Buffer, srcIp = AGENT_A): Buffer {
  return eth(ifMac, AGENT_MAC, ipv4(srcIp, LISTEN, 17, udpHdr(6080, 6080, datagram)));
}

/** The user-space SaP's decision on the same datagram: forwarded bytes or the drop reason counters. */
function reference(datagram: Buffer, fromIp = AGENT_A) {
  const counters: Record<string, number> = {};
  const e = new SapEngine(parseSapConfig(sapInput), counters, new FlowCache());
  const out = new Forward();
  const buf = Buffer.from(datagram);
  const ok = e.process(buf, buf.length, fromIp, 6080, performance.now(), out);
  delete counters.rx;
  return {
    ok,
    out: ok ? Buffer.from(out.buf.subarray(out.off, out.off + out.len)) : undefined,
    out2: out,
    counters,
  };
}

describe('eBPF SaP vs user-space SaP on golden packets (BPF_PROG_TEST_RUN)', () => {
  it('allowed packet: same re-keyed datagram, re-encapsulated toward the next hop', () => {
    const dgram = gue(ipv4(A, B, 6, tcp(40000, 80)));
    const want = reference(dgram);
    expect(want.ok).toBe(true);
    const r = runProg(sap, 'sap_ingress', toSap(dgram));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.counters).toEqual({ rx: 1, allowed: 1 });
    // L2 from the FIB, outer IPv4 from this SaP to the hop, UDP without checksum, then the user-space bytes.
    expect(r.out.subarray(0, 12).toString('hex')).toBe(PEER_MAC + ifMac);
    const ip = r.out.subarray(14, 34);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(LISTEN));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(want.out2.ip));
    expect(csum(ip)).toBe(0);
    expect(r.out.readUInt16BE(34)).toBe(6080);
    expect(r.out.readUInt16BE(36)).toBe(want.out2.port);
    expect(r.out.readUInt16BE(40)).toBe(0);
    expect(r.out.subarray(42).toString('hex')).toBe(want.out!.toString('hex'));
    // And the codec reads it back with the send key (epoch 2).
    const h = new GueHeader();
    const back = Buffer.from(r.out.subarray(42));
    expect(decode(back, 0, back.length, h)).toBe(DROP.ok);
    expect(h.epoch).toBe(2);
    expect(verify(back, h, Keyring.fromHex(77, [{ epoch: 2, key: K2 }]))).toBe(DROP.ok);
  });

  it('the reply of a forwarded flow passes from the flow cache (allowedCached)', () => {
    runProg(sap, 'sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(40001, 80)))));
    const r = runProg(sap, 'sap_ingress', toSap(gue(ipv4(B, A, 6, tcp(80, 40001))), PEER_SAP));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.counters).toEqual({ rx: 1, allowedCached: 1 });
    expect(r.out.readUInt32BE(14 + 16)).toBe(ipToU32(AGENT_A));
  });

  const drops: [string, () => { dgram: Buffer; from?: string }][] = [
    ['denied port', () => ({ dgram: gue(ipv4(A, B, 6, tcp(40000, 81))) })],
    ['except hole', () => ({ dgram: gue(ipv4(A, '100.64.0.9', 6, tcp(40000, 80))) })],
    ['ICMP under a port rule', () => ({ dgram: gue(ipv4(A, B, 1, Buffer.from('0800000000010001', 'hex'))) })],
    ['forged key', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80)), 1, 'ab'.repeat(16)) })],
    ['unknown epoch', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80)), 9) })],
    ['other overlay', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80)), 1, K1, 78) })],
    ['spoofed source (local agent as another endpoint)', () => ({ dgram: gue(ipv4(C, B, 6, tcp(1, 80))) })],
    [
      'peer SaP speaking for a local endpoint',
      () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80))), from: PEER_SAP }),
    ],
    ['unknown sender', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80))), from: '198.18.0.77' })],
    ['no route', () => ({ dgram: gue(ipv4(A, '100.64.0.50', 6, tcp(1, 80))) })],
    ['truncated', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80))).subarray(0, 10) })],
    [
      'bad version',
      () => {
        const d = gue(ipv4(A, B, 6, tcp(1, 80)));
        d[0] = d[0]! | 0x40;
        return { dgram: d };
      },
    ],
    [
      'reserved byte set',
      () => {
        const d = gue(ipv4(A, B, 6, tcp(1, 80)));
        d[11] = 1;
        return { dgram: d };
      },
    ],
    [
      'auth length disagrees with Hlen',
      () => {
        const d = gue(ipv4(A, B, 6, tcp(1, 80)));
        d[10] = 20;
        return { dgram: d };
      },
    ],
    ['inner not IPv4', () => ({ dgram: gue(Buffer.from('60000000', 'hex')) })],
    ['inner IPv4 truncated', () => ({ dgram: gue(ipv4(A, B, 6, tcp(1, 80)).subarray(0, 18)) })],
  ];
  for (const [name, make] of drops)
    it(`drops "${name}" for the same reason as user space`, () => {
      const { dgram, from } = make();
      const want = reference(dgram, from);
      expect(want.ok).toBe(false);
      const r = runProg(sap, 'sap_ingress', toSap(dgram, from));
      expect(r.retval).toBe(TC_ACT_SHOT);
      const { rx, ...reasons } = r.counters;
      expect(rx).toBe(1);
      expect(reasons).toEqual(want.counters);
    });

  it('leaves traffic that is not GUE for this SaP alone', () => {
    const plain = eth(ifMac, AGENT_MAC, ipv4(AGENT_A, LISTEN, 17, udpHdr(5000, 53, Buffer.alloc(4))));
    const r = runProg(sap, 'sap_ingress', plain);
    expect(r.retval | 0).toBe(TC_ACT_UNSPEC);
    expect(r.out.toString('hex')).toBe(plain.toString('hex'));
    expect(r.counters).toEqual({});
  });
});

describe('eBPF agent vs the codec on golden packets', () => {
  it('encapsulates overlay-bound IPv4 in exactly the user-space agent header', () => {
    const inner = ipv4(A, B, 6, tcp(40000, 80));
    const frame = eth(PEER_MAC, ifMac, inner);
    const r = runProg(agent, 'agent_egress', frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.counters).toEqual({ encap: 1 });
    const want = gue(inner, 1, K1); // the agent's send epoch 1
    const ip = r.out.subarray(14, 34);
    expect(r.out.subarray(0, 14).toString('hex')).toBe(frame.subarray(0, 14).toString('hex'));
    expect(ip.readUInt16BE(2)).toBe(20 + 8 + want.length);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(AGENT_A));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(LISTEN));
    expect(csum(ip)).toBe(0);
    expect(r.out.subarray(34, 42).toString('hex')).toBe(
      udpHdr(6080, 6080, want).subarray(0, 8).toString('hex'),
    );
    expect(r.out.subarray(42).toString('hex')).toBe(want.toString('hex'));
  });

  it('passes traffic outside the overlay prefix unchanged', () => {
    const frame = eth(PEER_MAC, ifMac, ipv4(AGENT_A, '198.18.0.2', 6, tcp(1, 2)));
    const r = runProg(agent, 'agent_egress', frame);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.out.toString('hex')).toBe(frame.toString('hex'));
  });

  // The own SaP is matched from the config, any other accepted SaP through the `accept` lookup.
  for (const [from, name, sport, epoch, key] of [
    [LISTEN, 'its SaP', 40000, 2, K2],
    [PEER_SAP, 'another accepted SaP (acceptFrom)', 40001, 1, K1],
  ] as const)
    it(`decapsulates GUE from ${name} to the inner packet, marked for the pod guard`, () => {
      const inner = ipv4(B, A, 6, tcp(80, sport));
      const frame = eth(ifMac, PEER_MAC, ipv4(from, AGENT_A, 17, udpHdr(6080, 6080, gue(inner, epoch, key))));
      const r = runProg(agent, 'agent_ingress', frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.counters).toEqual({ rx: 1, decap: 1 });
      expect(r.out.subarray(14).toString('hex')).toBe(inner.toString('hex'));
      expect(r.mark).toBe(0x6080);
    });

  const agentDrops: [string, () => Buffer, string][] = [
    [
      "GUE from its SaP's address but another port",
      () =>
        eth(ifMac, PEER_MAC, ipv4(LISTEN, AGENT_A, 17, udpHdr(6081, 6080, gue(ipv4(B, A, 6, tcp(80, 1)))))),
      'unknownSender',
    ],
    [
      'GUE from an accepted SaP but another port',
      () =>
        eth(ifMac, PEER_MAC, ipv4(PEER_SAP, AGENT_A, 17, udpHdr(6081, 6080, gue(ipv4(B, A, 6, tcp(80, 1)))))),
      'unknownSender',
    ],
    [
      'GUE from a sender that is not its SaP',
      () =>
        eth(
          ifMac,
          PEER_MAC,
          ipv4('198.18.0.66', AGENT_A, 17, udpHdr(6080, 6080, gue(ipv4(B, A, 6, tcp(80, 1))))),
        ),
      'unknownSender',
    ],
    [
      'forged key',
      () =>
        eth(
          ifMac,
          PEER_MAC,
          ipv4(LISTEN, AGENT_A, 17, udpHdr(6080, 6080, gue(ipv4(B, A, 6, tcp(80, 1)), 1, 'cd'.repeat(16)))),
        ),
      'badKey',
    ],
    [
      'other overlay',
      () =>
        eth(
          ifMac,
          PEER_MAC,
          ipv4(LISTEN, AGENT_A, 17, udpHdr(6080, 6080, gue(ipv4(B, A, 6, tcp(80, 1)), 1, K1, 5))),
        ),
      'unknownOverlay',
    ],
    [
      'inner packet for another address',
      () =>
        eth(ifMac, PEER_MAC, ipv4(LISTEN, AGENT_A, 17, udpHdr(6080, 6080, gue(ipv4(B, C, 6, tcp(80, 1)))))),
      'notForMe',
    ],
    [
      'plain packet to the overlay address',
      () => eth(ifMac, PEER_MAC, ipv4(B, A, 6, tcp(80, 1))),
      'plainToOverlay',
    ],
  ];
  for (const [name, frame, reason] of agentDrops)
    it(`drops ${name} (${reason})`, () => {
      const r = runProg(agent, 'agent_ingress', frame());
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.counters[reason]).toBe(1);
    });
});
