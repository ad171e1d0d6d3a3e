// Shared by the eBPF golden-vector tests (overlay-ebpf-golden*.test.ts): a scratch namespace for the programs'
// FIB lookups, one BPF_PROG_TEST_RUN with counter deltas, and packet builders (Ethernet, IPv4, IPv6, UDP, TCP,
// GUE through the codec). Everything created carries the run prefix and is removed by close().
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { nameCounters } from '../../reference-impl/ebpf/counters.ts';
import type { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { PROTO_IPV4, encodeHeader } from '../../reference-impl/gue/codec.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';

export const TC_ACT_UNSPEC = -1;
export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;

export interface RunResult {
  retval: number;
  out: Buffer;
  mark: number;
  counters: Record<string, number>;
  /** Mean time of one run, as the kernel measured it (ns). */
  ns: number;
}

/** A namespace with one veth pair (`ga` holds the addresses) and a scratch directory. */
export class GoldenLab {
  readonly prefix = `tb${randomBytes(2).toString('hex')}`;
  readonly ns: string;
  readonly pins: string;
  readonly tmp: string;
  ifindex = 0;
  ifMac = '';

  constructor(name: string) {
    this.ns = `${this.prefix}-${name}`;
    this.pins = `/sys/fs/bpf/${this.prefix}-${name}`;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-${name}-`));
  }

  nsx(...argv: string[]): string {
    return execFileSync('nsenter', [`--net=/run/netns/${this.ns}`, ...argv], { encoding: 'utf8' });
  }

  /** Creates the namespace: `ga` with `addrs` (CIDR notation), forwarding on for both families, `neigh` entries. */
  up(addrs: string[], neigh: [ip: string, mac: string][]): void {
    execFileSync('ip', ['netns', 'add', this.ns]);
    this.nsx('ip', 'link', 'add', 'ga', 'type', 'veth', 'peer', 'name', 'gb');
    for (const a of addrs)
      this.nsx('ip', 'addr', 'add', a, 'dev', 'ga', ...(a.includes(':') ? ['nodad'] : []));
    this.nsx('ip', 'link', 'set', 'ga', 'up');
    this.nsx('ip', 'link', 'set', 'gb', 'up');
    this.nsx('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    for (const [ip, mac] of neigh)
      this.nsx(
        'ip',
        'neigh',
        'replace',
        ip,
        'lladdr',
        mac.replace(/(..)(?!$)/g, '$1:'),
        'dev',
        'ga',
        'nud',
        'permanent',
      );
    const link = JSON.parse(this.nsx('ip', '-j', 'link', 'show', 'ga')) as {
      ifindex: number;
      address: string;
    }[];
    this.ifindex = link[0]!.ifindex;
    this.ifMac = link[0]!.address.replace(/:/g, '');
  }

  close(): void {
    fs.rmSync(this.pins, { recursive: true, force: true });
    fs.rmSync(this.tmp, { recursive: true, force: true });
    try {
      execFileSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
    } catch {
      // never created
    }
  }

  /**
   * One BPF_PROG_TEST_RUN of `prog` on `frame`, entering on `ga` with skb->mark `mark`; counters are the deltas
   * of this run. With `repeat` the kernel runs it that many times on the same buffer (bench/overlay-ebpf-warm.ts).
   */
  run(obj: BpfObject, prog: string, frame: Buffer, mark = 0, repeat = 1): RunResult {
    const before = obj.counters();
    const din = path.join(this.tmp, 'in');
    const dout = path.join(this.tmp, 'out');
    const cin = path.join(this.tmp, 'ctx');
    const cout = path.join(this.tmp, 'ctxout');
    fs.writeFileSync(din, frame);
    const ctx = Buffer.alloc(48);
    ctx.writeUInt32LE(mark, 8);
    ctx.writeUInt32LE(this.ifindex, 36); // ingress_ifindex: the FIB lookup runs from this device
    fs.writeFileSync(cin, ctx);
    const r = JSON.parse(
      this.nsx(
        'bpftool',
        '-j',
        'prog',
        'run',
        'pinned',
        path.join(obj.progDir, prog),
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
        'repeat',
        String(repeat),
      ),
    ) as { retval: number; duration: number };
    const after = obj.counters();
    const delta = after.map((v, i) => v - (before[i] ?? 0));
    const counters = Object.fromEntries(Object.entries(nameCounters(delta, [])).filter(([, v]) => v > 0));
    return {
      retval: r.retval | 0, // bpftool prints the u32: TC_ACT_UNSPEC is -1
      out: fs.readFileSync(dout),
      mark: fs.readFileSync(cout).readUInt32LE(8),
      counters,
      ns: r.duration,
    };
  }
}

export function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, id = 0x1234): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(id, 4);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(ipToU32(src), 12);
  h.writeUInt32BE(ipToU32(dst), 16);
  h.writeUInt16BE(csum(h), 10);
  return Buffer.concat([h, payload]);
}

export function ip6(a: string): Buffer {
  return Buffer.from(ipaddr.parse(a).toByteArray());
}

/** IPv6 header + payload; `next` is the first next-header value (payload may start with extension headers). */
export function ipv6(src: string, dst: string, next: number, payload: Buffer, hopLimit = 64): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = hopLimit;
  ip6(src).copy(h, 8);
  ip6(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** An 8-byte extension header (hop-by-hop, routing, destination options: Hdr Ext Len 0) leading to `next`. */
export function ext8(next: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = next;
  b[2] = 1; // PadN option filling the rest
  b[3] = 4;
  return b;
}

/** An IPv6 fragment header: offset in 8-byte units, more-fragments flag, 32-bit identification. */
export function frag6(next: number, offset: number, more: boolean, id: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = next;
  b.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(id >>> 0, 4);
  return b;
}

/** A TCP SYN header, plus `data` bytes of payload (so a frame can be longer than what a program pulls). */
export function tcp(sport: number, dport: number, data = 0): Buffer {
  const t = Buffer.alloc(20 + data, 0x61);
  t.fill(0, 0, 20);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t[12] = 0x50;
  t[13] = 0x02;
  return t;
}

export function udpHdr(sport: number, dport: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
}

export function eth(
  dst: string,
  src: string,
  payload: Buffer,
  type = payload[0]! >> 4 === 6 ? '86dd' : '0800',
): Buffer {
  return Buffer.concat([Buffer.from(dst + src + type, 'hex'), payload]);
}

/** A GUE datagram built by the codec (the user-space agent's header) around `inner`. */
export function gue(
  inner: Buffer,
  epoch: number,
  key: string,
  overlayId: number,
  proto = PROTO_IPV4,
): Buffer {
  const b = Buffer.alloc(128 + inner.length);
  const hl = encodeHeader(b, 0, proto, overlayId, epoch, Buffer.from(key, 'hex'));
  inner.copy(b, hl);
  return b.subarray(0, hl + inner.length);
}
