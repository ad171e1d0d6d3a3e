// The SaP program's shortcuts, on packets run through BPF_PROG_TEST_RUN (`bpftool prog run`): the per-flow
// forwarding cache (a later packet of an allowed flow from the same underlay sender is forwarded without the
// sender, route and FIB lookups) must give the same bytes and the same verdicts as the full path, including for a
// spoofed sender and after a config change; and the head filter's hand-over to another SaP of its namespace
// (TC_ACT_UNSPEC with a mark, re-injected by sap_catch when nobody took it). Root: a scratch namespace and bpffs
// pins carrying a run prefix, all removed afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { sapEntries, u32le } from '../../reference-impl/ebpf/maps.ts';
import { type SapConfigInput, parseSapConfig } from '../../reference-impl/sap/config.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import {
  GoldenLab,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  TC_ACT_UNSPEC,
  eth,
  gue as gueOf,
  ipv4,
  tcp,
  udpHdr,
} from './ebpf-golden-lib.ts';

/** OV_PASS_MARK in sap_maps.h. */
const PASS_MARK = 0x6081;

const K1 = '00112233445566778899aabbccddeeff';
const LISTEN = '198.18.0.1';
const AGENT_A = '198.18.0.5';
const PEER_SAP = '198.18.0.2';
const PEER_SAP2 = '198.18.0.3';
/** A second SaP of the same namespace (an address of this namespace: the FIB says "not forwarded"). */
const LOCAL_SAP = '198.18.0.7';
const PEER_MAC = '020000000002';
const PEER2_MAC = '020000000003';
const AGENT_MAC = '020000000005';
const A = '100.64.0.1';
const B = '100.64.0.2'; // behind the peer SaP
const D = '100.64.0.4'; // behind the local SaP

function config(version: number, bSap: string, key = K1): SapConfigInput {
  return {
    version,
    sapId: 's1',
    overlayId: 77,
    keys: [{ epoch: 1, key }],
    sendEpoch: 1,
    listen: { ip: LISTEN, port: 6080 },
    endpoints: [
      { overlayIp: A, sap: 's1', agent: { ip: AGENT_A, port: 6080 } },
      { overlayIp: B, sap: bSap },
      { overlayIp: D, sap: 's4' },
    ],
    saps: [
      { id: 's2', addr: { ip: PEER_SAP, port: 6080 } },
      { id: 's3', addr: { ip: PEER_SAP2, port: 6080 } },
      { id: 's4', addr: { ip: LOCAL_SAP, port: 6080 } },
    ],
  };
}

const lab = new GoldenLab('fast');
let sap: BpfObject;
let ifMac = '';
let version = 3;

beforeAll(() => {
  // LOCAL_SAP is an address of this namespace: the FIB answers "not forwarded" for it.
  lab.up(
    [`${LISTEN}/24`, `${LOCAL_SAP}/24`],
    [
      [PEER_SAP, PEER_MAC],
      [PEER_SAP2, PEER2_MAC],
      [AGENT_A, AGENT_MAC],
    ],
  );
  ifMac = lab.ifMac;
  sap = new BpfObject('sap', `${lab.pins}/sap`);
  sap.program(sapEntries(parseSapConfig(config(version, 's2')), sap.nextSlot()), version);
});

afterAll(() => {
  sap?.close();
  lab.close();
});

/** One BPF_PROG_TEST_RUN of `prog` on `frame` with skb->mark `mark`; counter deltas. */
const runProg = (prog: string, frame: Buffer, mark = 0) => lab.run(sap, prog, frame, mark);
const gue = (inner: Buffer, key = K1) => gueOf(inner, 1, key, 77);
/** A GUE datagram as an underlay frame arriving at the SaP from (srcIp, srcPort). */
const toSap = (datagram: Buffer, srcIp: string, srcPort = 6080, srcMac = AGENT_MAC) =>
  eth(ifMac, srcMac, ipv4(srcIp, LISTEN, 17, udpHdr(srcPort, 6080, datagram)));
const outerDst = (out: Buffer) => out.readUInt32BE(14 + 16);

describe('eBPF SaP forwarding cache (BPF_PROG_TEST_RUN)', () => {
  it('later packets of a flow leave with the same bytes as the first, full-path one', () => {
    const first = runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41000, 80, 300))), AGENT_A));
    expect(first.retval).toBe(TC_ACT_REDIRECT);
    expect(first.counters).toEqual({ rx: 1, allowed: 1 });
    expect(first.out.subarray(0, 12).toString('hex')).toBe(PEER_MAC + ifMac);
    expect(outerDst(first.out)).toBe(ipToU32(PEER_SAP));
    for (let i = 0; i < 3; i++) {
      const again = runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41000, 80, 300))), AGENT_A));
      expect(again.retval).toBe(TC_ACT_REDIRECT);
      expect(again.counters).toEqual({ rx: 1, allowedCached: 1 });
      expect(again.out.toString('hex')).toBe(first.out.toString('hex'));
    }
  });

  it('a cached flow from another underlay sender gets the full checks (spoofed source dropped)', () => {
    runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41001, 80))), AGENT_A));
    runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41001, 80))), AGENT_A));
    // Same inner flow, but from the peer SaP (which may not speak for a local endpoint) and from another port.
    const fromPeer = runProg(
      'sap_ingress',
      toSap(gue(ipv4(A, B, 6, tcp(41001, 80))), PEER_SAP, 6080, PEER_MAC),
    );
    expect(fromPeer.retval).toBe(TC_ACT_SHOT);
    expect(fromPeer.counters).toEqual({ rx: 1, spoofedSource: 1 });
    const otherPort = runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41001, 80))), AGENT_A, 6081));
    expect(otherPort.retval).toBe(TC_ACT_SHOT);
    expect(otherPort.counters).toEqual({ rx: 1, unknownSender: 1 });
  });

  it('the word-wise key compare sees a difference in any byte, also on a cached flow', () => {
    runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41003, 80))), AGENT_A));
    for (const at of [0, 7, 8, 15]) {
      const k = Buffer.from(K1, 'hex');
      k[at]! ^= 0x01;
      const r = runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(41003, 80)), k.toString('hex')), AGENT_A));
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.counters).toEqual({ rx: 1, badKey: 1 });
    }
  });

  it('compares only the words a key has, masking the last one: any byte of any key length counts', () => {
    try {
      for (const len of [16, 17, 23, 24, 31, 57, 64]) {
        const key = Buffer.from(Array.from({ length: len }, (_, i) => (i * 37 + len) & 0xff));
        sap.program(
          sapEntries(parseSapConfig(config(++version, 's2', key.toString('hex'))), sap.nextSlot()),
          version,
        );
        const frame = (k: Buffer) => toSap(gue(ipv4(A, B, 6, tcp(41004, 80)), k.toString('hex')), AGENT_A);
        expect(runProg('sap_ingress', frame(key)).retval, `${len}-byte key`).toBe(TC_ACT_REDIRECT);
        for (const at of new Set([0, 7, 8, len - 9, len - 2, len - 1].filter((x) => x >= 0))) {
          const k = Buffer.from(key);
          k[at]! ^= 0x80;
          const r = runProg('sap_ingress', frame(k));
          expect(r.counters, `${len}-byte key, byte ${at}`).toEqual({ rx: 1, badKey: 1 });
        }
      }
    } finally {
      sap.program(sapEntries(parseSapConfig(config(++version, 's2')), sap.nextSlot()), version);
    }
  });

  it('a new config version moves a cached flow to its new next hop at once', () => {
    const frame = () => toSap(gue(ipv4(A, B, 6, tcp(41002, 80))), AGENT_A);
    runProg('sap_ingress', frame());
    expect(outerDst(runProg('sap_ingress', frame()).out)).toBe(ipToU32(PEER_SAP));
    version++;
    sap.program(sapEntries(parseSapConfig(config(version, 's3')), sap.nextSlot()), version);
    const moved = runProg('sap_ingress', frame());
    expect(moved.retval).toBe(TC_ACT_REDIRECT);
    expect(moved.counters).toEqual({ rx: 1, allowed: 1 });
    expect(outerDst(moved.out)).toBe(ipToU32(PEER_SAP2));
    expect(moved.out.subarray(0, 6).toString('hex')).toBe(PEER2_MAC);
    const cached = runProg('sap_ingress', frame());
    expect(cached.counters).toEqual({ rx: 1, allowedCached: 1 });
    expect(cached.out.toString('hex')).toBe(moved.out.toString('hex'));
  });
});

describe('eBPF SaP hand-over to another SaP of the namespace', () => {
  const toLocal = () => toSap(gue(ipv4(A, D, 6, tcp(42000, 80))), AGENT_A);

  // One program plays both roles: the head filter is the interface head_if names (sap-main.ts writes it).
  const setHead = (ifindex: number) => sap.put('head_if', [u32le(0)], [u32le(ifindex)]);

  it('an ordinary filter sends it back into ingress, the head filter leaves it to the next filter, marked', () => {
    try {
      for (let i = 0; i < 2; i++) {
        // Twice each: the full path, then the forwarding cache.
        setHead(0);
        const plain = runProg('sap_ingress', toLocal());
        expect(plain.retval).toBe(TC_ACT_REDIRECT);
        expect(plain.mark).toBe(0);
        setHead(lab.ifindex + 1); // another interface is the head: this one is still ordinary
        expect(runProg('sap_ingress', toLocal()).retval).toBe(TC_ACT_REDIRECT);
        setHead(lab.ifindex);
        const head = runProg('sap_ingress', toLocal());
        expect(head.retval).toBe(TC_ACT_UNSPEC);
        expect(head.mark).toBe(PASS_MARK);
        expect(outerDst(head.out)).toBe(ipToU32(LOCAL_SAP));
        expect(head.out.toString('hex')).toBe(plain.out.toString('hex'));
      }
    } finally {
      setHead(0);
    }
  });

  it('sap_catch re-injects only what a head filter marked; a SaP taking a marked packet clears the mark', () => {
    const caught = runProg('sap_catch', toLocal(), PASS_MARK);
    expect(caught.retval).toBe(TC_ACT_REDIRECT);
    expect(caught.mark).toBe(0);
    expect(runProg('sap_catch', toLocal(), 0).retval).toBe(TC_ACT_UNSPEC);
    expect(runProg('sap_catch', toLocal(), 0x6080).retval).toBe(TC_ACT_UNSPEC);
    const taken = runProg('sap_ingress', toSap(gue(ipv4(A, B, 6, tcp(42001, 80))), AGENT_A), PASS_MARK);
    expect(taken.retval).toBe(TC_ACT_REDIRECT);
    expect(taken.mark).toBe(0);
  });
});
