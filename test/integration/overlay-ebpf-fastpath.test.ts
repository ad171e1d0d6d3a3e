// The SaP program's shortcuts, on packets run through BPF_PROG_TEST_RUN (`bpftool prog run`): the per-flow
// forwarding cache (a later packet of an allowed flow from the same underlay sender is forwarded without the
// sender, route and FIB lookups) must give the same bytes and the same verdicts as the full path, including for a
// spoofed sender and after a config change; and the head filter's hand-over to another SaP of its namespace
// (TC_ACT_UNSPEC with a mark, re-injected by sap_catch when nobody took it). Root: a scratch namespace and bpffs
// pins carrying a run prefix, all removed afterwards.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nameCounters } from '../../reference-impl/ebpf/counters.ts';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { sapEntries } from '../../reference-impl/ebpf/maps.ts';
import { encodeHeader } from '../../reference-impl/gue/codec.ts';
import { type SapConfigInput, parseSapConfig } from '../../reference-impl/sap/config.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';

const PREFIX = `tb${randomBytes(2).toString('hex')}`;
const NS = `${PREFIX}-fast`;
const PINS = `/sys/fs/bpf/${PREFIX}-fast`;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-fast-`));
const TC_ACT_UNSPEC = -1;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
/** OV_PASS_MARK in sap.bpf.c. */
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

function config(version: number, bSap: string): SapConfigInput {
  return {
    version,
    sapId: 's1',
    overlayId: 77,
    keys: [{ epoch: 1, key: K1 }],
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

const nsx = (...argv: string[]) =>
  execFileSync('nsenter', [`--net=/run/netns/${NS}`, ...argv], { encoding: 'utf8' });
let sap: BpfObject;
let ifindex = 0;
let ifMac = '';
let version = 3;

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  nsx('ip', 'link', 'add', 'fa', 'type', 'veth', 'peer', 'name', 'fb');
  nsx('ip', 'addr', 'add', `${LISTEN}/24`, 'dev', 'fa');
  nsx('ip', 'addr', 'add', `${LOCAL_SAP}/24`, 'dev', 'fa');
  nsx('ip', 'link', 'set', 'fa', 'up');
  nsx('ip', 'link', 'set', 'fb', 'up');
  nsx('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const mac = (m: string) => m.replace(/(..)(?!$)/g, '$1:');
  nsx('ip', 'neigh', 'replace', PEER_SAP, 'lladdr', mac(PEER_MAC), 'dev', 'fa');
  nsx('ip', 'neigh', 'replace', PEER_SAP2, 'lladdr', mac(PEER2_MAC), 'dev', 'fa');
  nsx('ip', 'neigh', 'replace', AGENT_A, 'lladdr', mac(AGENT_MAC), 'dev', 'fa');
  const link = JSON.parse(nsx('ip', '-j', 'link', 'show', 'fa')) as { ifindex: number; address: string }[];
  ifindex = link[0]!.ifindex;
  ifMac = link[0]!.address.replace(/:/g, '');
  sap = new BpfObject('sap', `${PINS}/sap`);
  sap.program(sapEntries(parseSapConfig(config(version, 's2')), sap.nextSlot()), version);
});

afterAll(() => {
  sap?.close();
  fs.rmSync(PINS, { recursive: true, force: true });
  fs.rmSync(TMP, { recursive: true, force: true });
  execFileSync('ip', ['netns', 'del', NS]);
});

interface RunResult {
  retval: number;
  out: Buffer;
  mark: number;
  counters: Record<string, number>;
}

/** One BPF_PROG_TEST_RUN of `prog` on `frame` entering on `fa` with skb->mark `mark`; counter deltas. */
function runProg(prog: string, frame: Buffer, mark = 0): RunResult {
  const before = sap.counters();
  const din = path.join(TMP, 'in');
  const dout = path.join(TMP, 'out');
  const cin = path.join(TMP, 'ctx');
  const cout = path.join(TMP, 'ctxout');
  fs.writeFileSync(din, frame);
  const ctx = Buffer.alloc(48);
  ctx.writeUInt32LE(mark, 8);
  ctx.writeUInt32LE(ifindex, 36); // ingress_ifindex: the FIB lookup runs from this device
  fs.writeFileSync(cin, ctx);
  const r = JSON.parse(
    nsx(
      'bpftool',
      '-j',
      'prog',
      'run',
      'pinned',
      path.join(sap.progDir, prog),
      'data_in',
      din,
      'data_out',
      dout,
      'data_size_out',
      '4096',
      'ctx_in',
      cin,
      'ctx_out',
      cout,
    ),
  ) as { retval: number };
  const delta = sap.counters().map((v, i) => v - (before[i] ?? 0));
  return {
    retval: r.retval | 0, // bpftool prints the u32: TC_ACT_UNSPEC is -1
    out: fs.readFileSync(dout),
    mark: fs.readFileSync(cout).readUInt32LE(8),
    counters: Object.fromEntries(Object.entries(nameCounters(delta, [])).filter(([, v]) => v > 0)),
  };
}

function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function ipv4(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(ipToU32(src), 12);
  h.writeUInt32BE(ipToU32(dst), 16);
  h.writeUInt16BE(csum(h), 10);
  return Buffer.concat([h, payload]);
}
/** TCP header plus `data` bytes of payload (so a frame can be longer than what the program pulls). */
function tcp(sport: number, dport: number, data = 0): Buffer {
  const t = Buffer.alloc(20 + data, 0x61);
  t.fill(0, 0, 20);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t[12] = 0x50;
  t[13] = 0x18;
  return t;
}
function gue(inner: Buffer, key = K1): Buffer {
  const b = Buffer.alloc(128 + inner.length);
  const hl = encodeHeader(b, 0, 4, 77, 1, Buffer.from(key, 'hex'));
  inner.copy(b, hl);
  return b.subarray(0, hl + inner.length);
}
/** A GUE datagram as an underlay frame arriving at the SaP from (srcIp, srcPort). */
function toSap(datagram: Buffer, srcIp: string, srcPort = 6080, srcMac = AGENT_MAC): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(srcPort, 0);
  u.writeUInt16BE(6080, 2);
  u.writeUInt16BE(8 + datagram.length, 4);
  return Buffer.concat([
    Buffer.from(ifMac + srcMac + '0800', 'hex'),
    ipv4(srcIp, LISTEN, 17, Buffer.concat([u, datagram])),
  ]);
}
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

  it('an ordinary filter sends it back into ingress, the head filter leaves it to the next filter, marked', () => {
    for (let i = 0; i < 2; i++) {
      // Twice each: the full path, then the forwarding cache.
      const plain = runProg('sap_ingress', toLocal());
      expect(plain.retval).toBe(TC_ACT_REDIRECT);
      expect(plain.mark).toBe(0);
      const head = runProg('sap_ingress_head', toLocal());
      expect(head.retval).toBe(TC_ACT_UNSPEC);
      expect(head.mark).toBe(PASS_MARK);
      expect(outerDst(head.out)).toBe(ipToU32(LOCAL_SAP));
      expect(head.out.toString('hex')).toBe(plain.out.toString('hex'));
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
