import { describe, expect, it } from 'vitest';
import {
  AUTH_MAC,
  GueHeader,
  Keyring,
  PROTO_IPV4,
  decode,
  encodeHeader,
  encodeMacHeader,
  headerLength,
  verify,
} from '../gue/codec.ts';
import { readSeq, sealMac } from '../gue/mac.ts';
import { type SapConfigInput, parseSapConfig } from './config.ts';
import { Forward, SapEngine } from './engine.ts';
import { FlowCache } from './flowcache.ts';
import { ipToU32 } from './packet.ts';

const K1 = '00112233445566778899aabbccddeeff';
const K2 = 'ffeeddccbbaa99887766554433221100';
const A = '10.240.0.1';
const B = '10.240.0.2';
const R = '10.240.9.9'; // on sap2

function cfg(over: Partial<SapConfigInput> = {}): SapConfigInput {
  return {
    version: 1,
    sapId: 'sap1',
    overlayId: 5,
    keys: [{ epoch: 1, key: K1 }],
    sendEpoch: 1,
    listen: { ip: '192.168.0.1', port: 6080 },
    endpoints: [
      {
        overlayIp: A,
        sap: 'sap1',
        agent: { ip: '192.168.0.10', port: 6080 },
        isolatedEgress: true,
        egress: [
          { ports: [{ protocol: 'UDP', portFrom: 53, portTo: 53 }] },
          { peers: [{ cidr: '10.240.0.0/24', except: ['10.240.0.3/32'] }] },
        ],
      },
      {
        overlayIp: B,
        sap: 'sap1',
        agent: { ip: '192.168.0.11', port: 6080 },
        isolatedIngress: true,
        ingress: [
          {
            peers: [{ cidr: `${A}/32` }, { cidr: `${R}/32` }],
            ports: [{ protocol: 'TCP', portFrom: 80, portTo: 90 }],
          },
        ],
      },
      { overlayIp: '10.240.0.3', sap: 'sap1', agent: { ip: '192.168.0.12', port: 6080 } },
      { overlayIp: R, sap: 'sap2' },
      { overlayIp: '10.240.9.10', sap: 'sap3' },
    ],
    saps: [
      { id: 'sap2', addr: { ip: '192.168.0.2', port: 6080 } },
      { id: 'gw', addr: { ip: '192.168.0.254', port: 6080 } },
    ],
    routes: [{ sap: 'sap3', via: 'gw' }],
    ...over,
  };
}

function ip4(src: string, dst: string, proto: number, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(40);
  b[0] = 0x45;
  b.writeUInt16BE(40, 2);
  b[9] = proto;
  b.writeUInt32BE(ipToU32(src), 12);
  b.writeUInt32BE(ipToU32(dst), 16);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  return b;
}
function gue(inner: Buffer, key = K1, epoch = 1, overlay = 5): Buffer {
  const k = Buffer.from(key, 'hex');
  const hl = headerLength(k.length);
  const b = Buffer.alloc(hl + inner.length);
  encodeHeader(b, 0, PROTO_IPV4, overlay, epoch, k);
  inner.copy(b, hl);
  return b;
}

function setup(over: Partial<SapConfigInput> = {}) {
  const counters: Record<string, number> = {};
  const cache = new FlowCache(1024);
  const e = new SapEngine(parseSapConfig(cfg(over)), counters, cache);
  const out = new Forward();
  const send = (pkt: Buffer, from: string, now = 0) =>
    e.process(pkt, pkt.length, from, 6080, now, out) ? `${out.ip}:${out.port}` : null;
  return { e, counters, cache, out, send };
}

describe('SaP engine', () => {
  it('allows by policy, caches the flow, and lets replies through', () => {
    const { send, counters } = setup();
    expect(send(gue(ip4(A, B, 6, 40000, 80)), '192.168.0.10')).toBe('192.168.0.11:6080');
    expect(counters.allowed).toBe(1);
    // Reply from B is not allowed by A's ingress rules (A is not isolated) nor by B's egress; cached anyway.
    expect(send(gue(ip4(B, A, 6, 80, 40000)), '192.168.0.11')).toBe('192.168.0.10:6080');
    expect(counters.allowedCached).toBe(1);
  });

  it('denies what neither ingress nor egress allows (default deny in isolated directions)', () => {
    const { send, counters } = setup();
    expect(send(gue(ip4(A, B, 6, 40000, 91)), '192.168.0.10')).toBeNull(); // B ingress: port
    expect(send(gue(ip4(A, B, 17, 40000, 80)), '192.168.0.10')).toBeNull(); // B ingress: protocol
    expect(send(gue(ip4('10.240.0.3', B, 6, 1, 80)), '192.168.0.12')).toBeNull(); // B ingress: peer
    expect(send(gue(ip4(A, '10.240.0.3', 6, 1, 80)), '192.168.0.10')).toBeNull(); // A egress: except
    expect(counters.deniedPolicy).toBe(4);
    // A egress allows UDP 53 anywhere; 10.240.0.3 is not isolated for ingress.
    expect(send(gue(ip4(A, '10.240.0.3', 17, 1, 53)), '192.168.0.10')).toBe('192.168.0.12:6080');
  });

  it('checks the sender: spoofed inner source, unknown underlay sender, peer SaP', () => {
    const { send, counters } = setup();
    expect(send(gue(ip4(B, '10.240.0.3', 6, 1, 80)), '192.168.0.10')).toBeNull();
    expect(counters.spoofedSource).toBe(1);
    expect(send(gue(ip4(A, B, 6, 1, 80)), '192.168.0.99')).toBeNull();
    expect(counters.unknownSender).toBe(1);
    // From peer SaP: remote source is fine (ingress of B checked here), a local source is spoofing.
    expect(send(gue(ip4(R, B, 6, 1, 85)), '192.168.0.2')).toBe('192.168.0.11:6080');
    expect(send(gue(ip4(A, B, 6, 1, 85)), '192.168.0.2')).toBeNull();
    expect(counters.spoofedSource).toBe(2);
  });

  it('routes remote endpoints to their SaP or via the gateway, and unknown ones nowhere', () => {
    const { send, counters } = setup();
    const C = '10.240.0.3';
    expect(send(gue(ip4(C, R, 6, 1, 80)), '192.168.0.12')).toBe('192.168.0.2:6080');
    expect(send(gue(ip4(C, '10.240.9.10', 6, 1, 80)), '192.168.0.12')).toBe('192.168.0.254:6080');
    expect(send(gue(ip4(C, '10.240.7.7', 6, 1, 80)), '192.168.0.12')).toBeNull();
    // A's egress is isolated and allows only its /24 (and DNS), so the remote endpoint is denied at this SaP.
    expect(send(gue(ip4(A, R, 6, 1, 80)), '192.168.0.10')).toBeNull();
    expect(counters.deniedPolicy).toBe(1);
    expect(counters.noRoute).toBe(1);
  });

  it('counts authorization and format failures by reason', () => {
    const { send, counters } = setup();
    expect(send(gue(ip4(A, B, 6, 1, 80), K2), '192.168.0.10')).toBeNull();
    expect(send(gue(ip4(A, B, 6, 1, 80), K1, 2), '192.168.0.10')).toBeNull();
    expect(send(gue(ip4(A, B, 6, 1, 80), K1, 1, 6), '192.168.0.10')).toBeNull();
    expect(send(Buffer.from('hello world, not gue'), '192.168.0.10')).toBeNull();
    const v6 = gue(ip4(A, B, 6, 1, 80));
    v6[1] = 41; // GUE says IPv6 …
    v6[28] = 0x60; // … and so does the inner version: its "addresses" are outside the overlay /96, so no route
    expect(send(v6, '192.168.0.10')).toBeNull();
    expect(counters).toMatchObject({
      badKey: 1,
      badEpoch: 1,
      unknownOverlay: 1,
      malformed: 1,
      'malformed:badVersion': 1,
      noRoute: 1,
    });
    expect(counters.allowed ?? 0).toBe(0);
  });

  it('accepts old and new epochs during rotation and re-keys forwarded packets to sendEpoch', () => {
    const { send, out } = setup({
      keys: [
        { epoch: 1, key: K1 },
        { epoch: 2, key: K2 },
      ],
      sendEpoch: 2,
    });
    expect(send(gue(ip4(A, B, 6, 1, 80), K1, 1), '192.168.0.10')).not.toBeNull();
    const h = new GueHeader();
    decode(out.buf, out.off, out.len, h);
    expect(h.epoch).toBe(2);
    expect(out.buf.subarray(h.authOff, h.authOff + 16).toString('hex')).toBe(K2);
  });

  it('re-encapsulates into a new buffer when the new key has another length', () => {
    const K3 = 'ab'.repeat(32);
    const { send, out } = setup({
      keys: [
        { epoch: 1, key: K1 },
        { epoch: 3, key: K3 },
      ],
      sendEpoch: 3,
    });
    const pkt = gue(ip4(A, B, 6, 1, 80), K1, 1);
    expect(send(pkt, '192.168.0.10')).not.toBeNull();
    expect(out.buf).not.toBe(pkt);
    const h = new GueHeader();
    expect(decode(out.buf, out.off, out.len, h)).toBe(0);
    expect([h.epoch, h.authLen, h.innerLen]).toEqual([3, 32, 40]);
    expect(out.buf.subarray(h.innerOff, h.innerOff + 40).equals(pkt.subarray(28))).toBe(true);
  });

  it('passes later fragments only after an allowed first fragment of the same datagram', () => {
    const { send, counters } = setup();
    const frag = (off: number, more: boolean, id: number, dport = 80) => {
      const b = ip4(A, B, 6, 1, dport);
      b.writeUInt16BE(id, 4);
      b.writeUInt16BE((more ? 0x2000 : 0) | off, 6);
      return gue(b);
    };
    expect(send(frag(10, false, 7), '192.168.0.10')).toBeNull(); // no first fragment seen
    expect(send(frag(0, true, 7), '192.168.0.10')).not.toBeNull();
    expect(send(frag(10, false, 7), '192.168.0.10')).not.toBeNull();
    expect(send(frag(0, true, 8, 91), '192.168.0.10')).toBeNull(); // denied first fragment …
    expect(send(frag(10, false, 8), '192.168.0.10')).toBeNull(); // … denies the rest
    expect(counters).toMatchObject({ fragmentDropped: 2, allowedFragment: 1, deniedPolicy: 1 });
    // A spoofed fragment is still a spoofed packet.
    const spoof = ip4(B, A, 6, 1, 80);
    spoof.writeUInt16BE(0x0010, 6);
    expect(send(gue(spoof), '192.168.0.10')).toBeNull();
    expect(counters.spoofedSource).toBe(1);
  });

  it('expires idle flows and forgets them on clear()', () => {
    const { send, cache, counters } = setup({ flowIdleMs: 1000 });
    send(gue(ip4(A, B, 6, 1, 80)), '192.168.0.10', 0);
    expect(send(gue(ip4(B, A, 6, 80, 1)), '192.168.0.11', 500)).not.toBeNull();
    expect(send(gue(ip4(B, A, 6, 80, 1)), '192.168.0.11', 1400)).not.toBeNull(); // refreshed at 500
    expect(counters.allowedCached).toBe(2);
    cache.clear();
    // B → A is now a new flow: A isn't isolated for ingress and B not for egress, so it is allowed again, uncached.
    send(gue(ip4(B, A, 6, 80, 1)), '192.168.0.11', 1500);
    expect(counters.allowed).toBe(2);
  });
});

describe('SaP engine, mode mac', () => {
  it('verifies, rejects replays per sender, and re-seals with its own sequence', () => {
    const key = Buffer.from(K1, 'hex');
    const { send, out, counters } = setup({ authMode: 'mac' });
    const inner = ip4(A, B, 6, 1, 80);
    const p = Buffer.alloc(36 + inner.length);
    encodeMacHeader(p, 0, PROTO_IPV4, 5, 1);
    inner.copy(p, 36);
    sealMac(p, 0, 36, inner.length, key, 1000);
    expect(send(Buffer.from(p), '192.168.0.10')).toBe('192.168.0.11:6080');
    const h = new GueHeader();
    expect(decode(out.buf, out.off, out.len, h)).toBe(0);
    expect(verify(out.buf, h, Keyring.fromHex(5, [{ epoch: 1, key: K1 }], AUTH_MAC))).toBe(0);
    expect(readSeq(out.buf, 0)).not.toBe(1000);
    expect(send(Buffer.from(p), '192.168.0.10')).toBeNull();
    expect(counters.replay).toBe(1);
    // The key-mode packet is not accepted by a mac overlay.
    expect(send(gue(inner), '192.168.0.10')).toBeNull();
    expect(counters.unknownMode).toBe(1);
  });
});

describe('flow cache', () => {
  it('holds many flows in a small table, replacing the least recently seen', () => {
    const c = new FlowCache(64, 1e9);
    for (let i = 0; i < 1000; i++) c.add(i, i + 1, 6, i & 0xffff, 80, i);
    expect(c.has(999, 1000, 6, 999, 80, 1000)).toBe(true);
    expect(c.has(0, 1, 6, 0, 80, 1000)).toBe(false);
    expect(c.size).toBeLessThanOrEqual(64);
  });
});
