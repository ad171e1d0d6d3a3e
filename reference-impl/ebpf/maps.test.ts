// The map back end against the user-space policy (sap/policy.ts) it must agree with: random allow entries
// (CIDRs, excepts, port ranges), rendered into pol_peer / pol_port entries, looked up the way the kernel's LPM
// trie does (longest matching prefix over the key bytes), and compared with allows() for random packets.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SapConfig } from '../sap/config.ts';
import { parseSapConfig } from '../sap/config.ts';
import { allows, compileEntries } from '../sap/policy.ts';
import { u32ToIp } from '../sap/packet.ts';
import { COUNTER_NAMES } from './counters.ts';
import { parseAgentConfig } from '../agent/config.ts';
import {
  AG_GUARD,
  AG_INNER6,
  AG_OUTER6,
  DIR_V6,
  EP_AGENT6,
  EP_HOP6,
  EP_V4,
  EP_V6,
  PORTSET_ALL,
  PORTSET_DENY,
  type MapEntry,
  agentEntries,
  portPrefixes,
  sapEntries,
} from './maps.ts';

/** Longest-prefix match over `bits`-bit keys, as BPF_MAP_TYPE_LPM_TRIE does on the key's data bytes. */
function lpm(entries: MapEntry[], key: Buffer): Buffer | undefined {
  let best: { len: number; v: Buffer } | undefined;
  for (const e of entries) {
    const len = e.key.readUInt32LE(0);
    const data = e.key.subarray(4);
    let ok = true;
    for (let bit = 0; bit < len && ok; bit++) {
      const byte = bit >> 3;
      const m = 0x80 >> (bit & 7);
      if ((data[byte]! & m) !== (key[byte]! & m)) ok = false;
    }
    if (ok && (!best || len > best.len)) best = { len, v: e.value };
  }
  return best?.v;
}

function kernelAllows(
  es: MapEntry[],
  slot: number,
  dir: number,
  ep: number,
  peer: number,
  proto: number,
  port: number,
): boolean {
  const k = Buffer.alloc(12);
  k[0] = slot;
  k[1] = dir;
  k.writeUInt32BE(ep >>> 0, 4);
  k.writeUInt32BE(peer >>> 0, 8);
  const v = lpm(
    es.filter((e) => e.map === 'pol_peer'),
    k,
  );
  if (!v) return false;
  const set = v.readUInt32LE(0);
  if (set === PORTSET_DENY) return false;
  if (set === PORTSET_ALL) return true;
  if (proto !== 6 && proto !== 17 && proto !== 132) return false;
  const q = Buffer.alloc(12);
  q[0] = slot;
  q[1] = proto;
  q.writeUInt32LE(set, 4);
  q.writeUInt16BE(port, 8);
  return (
    lpm(
      es.filter((e) => e.map === 'pol_port'),
      q,
    ) !== undefined
  );
}

// Addresses from a small space so that CIDRs, excepts and packets overlap often.
const ipArb = fc.integer({ min: 0, max: 63 }).map((x) => ((10 << 24) | (x << 2)) >>> 0);
const cidrArb = fc
  .tuple(ipArb, fc.integer({ min: 24, max: 32 }))
  .map(([ip, bits]) => `${u32ToIp(ip)}/${bits}`);
const portArb = fc.integer({ min: 0, max: 40 });
const entryArb = fc.record(
  {
    peers: fc.array(fc.record({ cidr: cidrArb, except: fc.array(cidrArb, { maxLength: 2 }) }), {
      maxLength: 3,
    }),
    ports: fc.array(
      fc.tuple(fc.constantFrom('TCP', 'UDP', 'SCTP'), portArb, portArb).map(([protocol, a, b]) => ({
        protocol: protocol as 'TCP',
        portFrom: Math.min(a, b),
        portTo: Math.max(a, b),
      })),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
);

const EP = '100.64.0.1';
function config(
  ingress: unknown[],
  egress: unknown[],
  ingress6: unknown[] = [],
  egress6: unknown[] = [],
): SapConfig {
  return parseSapConfig({
    version: 1,
    sapId: 's1',
    overlayId: 7,
    keys: [{ epoch: 1, key: '00112233445566778899aabbccddeeff' }],
    sendEpoch: 1,
    listen: { ip: '198.18.0.1' },
    endpoints: [
      {
        overlayIp: EP,
        sap: 's1',
        agent: { ip: '10.1.0.5' },
        isolatedIngress: true,
        isolatedEgress: true,
        ingress,
        egress,
        ipv6: true,
        ingress6,
        egress6,
      },
    ],
  });
}

describe('eBPF map back end', () => {
  it('port prefixes cover exactly the range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (a, b) => {
        const [from, to] = [Math.min(a, b), Math.max(a, b)];
        let covered = 0;
        for (const p of portPrefixes(from, to)) {
          const size = 2 ** (16 - p.bits);
          expect(p.port % size).toBe(0);
          expect(p.port >= from && p.port + size - 1 <= to).toBe(true);
          covered += size;
        }
        expect(covered).toBe(to - from + 1);
      }),
      { numRuns: 2000 },
    );
  });

  it('LPM policy entries decide as sap/policy.ts allows() does (except holes, port sets, ICMP)', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 4 }),
        fc.array(entryArb, { maxLength: 4 }),
        fc.array(fc.tuple(ipArb, fc.integer({ min: 0, max: 3 }), fc.constantFrom(1, 6, 17, 132), portArb), {
          minLength: 20,
          maxLength: 20,
        }),
        fc.constantFrom(0, 1),
        (ingress, egress, packets, slot) => {
          const cfg = config(ingress, egress);
          const es = sapEntries(cfg, slot as 0 | 1);
          const ep = cfg.endpoints[0]!;
          const inC = compileEntries(ep.ingress);
          const outC = compileEntries(ep.egress);
          const epIp = 0x64400001;
          for (const [base, off, proto, port] of packets) {
            const peer = (base + off) >>> 0;
            expect(kernelAllows(es, slot, 0, epIp, peer, proto, port)).toBe(allows(inC, peer, proto, port));
            expect(kernelAllows(es, slot, 1, epIp, peer, proto, port)).toBe(allows(outC, peer, proto, port));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('IPv6 rules decide under the family bit as allows() does on ingress6/egress6, apart from the IPv4 rules', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 3 }),
        fc.array(entryArb, { maxLength: 3 }),
        fc.array(entryArb, { maxLength: 3 }),
        fc.array(entryArb, { maxLength: 3 }),
        fc.array(fc.tuple(ipArb, fc.integer({ min: 0, max: 3 }), fc.constantFrom(58, 6, 17, 132), portArb), {
          minLength: 20,
          maxLength: 20,
        }),
        fc.constantFrom(0, 1),
        (in4, out4, in6, out6, packets, slot) => {
          const cfg = config(in4, out4, in6, out6);
          const es = sapEntries(cfg, slot as 0 | 1);
          const ep = cfg.endpoints[0]!;
          const c = [ep.ingress, ep.egress, ep.ingress6, ep.egress6].map(compileEntries);
          const epIp = 0x64400001;
          for (const [base, off, proto, port] of packets) {
            const peer = (base + off) >>> 0;
            for (const [dir, entries] of [
              [0, c[0]!],
              [1, c[1]!],
              [DIR_V6, c[2]!],
              [1 | DIR_V6, c[3]!],
            ] as const)
              expect(kernelAllows(es, slot, dir, epIp, peer, proto, port)).toBe(
                allows(entries, peer, proto, port),
              );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('IPv6 underlay addresses and families land where sap.bpf.c and agent.bpf.c read them', () => {
    const cfg = parseSapConfig({
      version: 1,
      sapId: 's1',
      overlayId: 7,
      keys: [{ epoch: 1, key: '00112233445566778899aabbccddeeff' }],
      sendEpoch: 1,
      listen: { ip: 'fd00::1', port: 6081 },
      endpoints: [
        { overlayIp: '100.64.0.1', sap: 's1', agent: { ip: 'fd00::5' }, ipv4: false, ipv6: true },
        { overlayIp: '100.64.0.2', sap: 's2', ipv4: true, ipv6: false },
      ],
      saps: [{ id: 's2', addr: { ip: 'fd00::2' }, addr6: { ip: 'fd00::2' } }],
    });
    const es = sapEntries(cfg, 0);
    const c = es.find((e) => e.map === 'sap_cfg')!.value;
    expect(c.length).toBe(120);
    expect(c.readUInt32BE(4)).toBe(0); // no IPv4 socket: the IPv4 path passes everything
    expect(c.subarray(88, 104).toString('hex')).toBe('fd000000000000000000000000000001');
    expect(c.readUInt16BE(104)).toBe(6081);
    expect(c.subarray(108, 120).toString('hex')).toBe('fd64ffff0000000000000000'); // the default overlay /96
    const ep = es.filter((e) => e.map === 'endpoints').map((e) => e.value);
    expect(ep[0]!.readUInt32LE(12) & (EP_V4 | EP_V6 | EP_AGENT6 | EP_HOP6)).toBe(EP_V6 | EP_AGENT6 | EP_HOP6);
    expect(ep[0]!.subarray(16, 32).toString('hex')).toBe('fd000000000000000000000000000005');
    expect(ep[1]!.readUInt32LE(12) & (EP_V4 | EP_V6 | EP_HOP6)).toBe(EP_V4 | EP_HOP6);
    expect(ep[1]!.subarray(32, 48).toString('hex')).toBe('fd000000000000000000000000000002');
    expect(es.filter((e) => e.map === 'senders6').length).toBe(2); // the agent and the peer SaP (once)
    expect(es.some((e) => e.map === 'senders')).toBe(false);

    const a = agentEntries(
      parseAgentConfig({
        version: 1,
        overlayId: 7,
        overlayIp: '100.64.0.1',
        overlayCidr: '100.64.0.0/10',
        overlayIp6: 'fd64:ffff::6440:1',
        overlayCidr6: 'fd64:ffff::/96',
        keys: [{ epoch: 1, key: '00112233445566778899aabbccddeeff' }],
        sendEpoch: 1,
        listen: { ip: 'fd00::5' },
        sap: { ip: 'fd00::1' },
      }),
      1,
    );
    const v = a.find((e) => e.map === 'agent_cfg')!.value;
    expect(v.length).toBe(248);
    expect(v.subarray(160, 176).toString('hex')).toBe('fd64ffff000000000000000064400001');
    expect(v.subarray(176, 192).toString('hex')).toBe('fd64ffff000000000000000000000000');
    expect(v.subarray(192, 208).toString('hex')).toBe('ffffffffffffffffffffffff00000000');
    expect(v.subarray(224, 240).toString('hex')).toBe('fd000000000000000000000000000001');
    // The guard flag follows config `guard` (default on).
    expect(v.readUInt32LE(240)).toBe(AG_INNER6 | AG_OUTER6 | AG_GUARD);
    expect(a.filter((e) => e.map === 'accept6').length).toBe(1);
  });

  it('writes only the slot it is asked for', () => {
    const es = sapEntries(config([{}], []), 1);
    for (const e of es) {
      if (e.map === 'pol_peer' || e.map === 'pol_port') expect(e.key[4]).toBe(1);
      if (e.map === 'endpoints' || e.map === 'senders' || e.map === 'sap_cfg')
        expect(e.key.readUInt32LE(0)).toBe(1);
      if (e.map === 'keys') expect(e.key.readUInt32LE(0) >> 8).toBe(1);
    }
  });

  it('counter names follow the C enum in common.h', () => {
    const h = readFileSync(new URL('./common.h', import.meta.url), 'utf8');
    const body = /enum \{\n {2}C_RX,[\s\S]*?C_COUNT/.exec(h)![0];
    const ids = [...body.matchAll(/^ {2}(C_[A-Z0-9_]+)/gm)].map((m) => m[1]!);
    const camel = (c: string) =>
      c
        .slice(2)
        .toLowerCase()
        .replace(/_([a-z0-9])/g, (_, x: string) => x.toUpperCase());
    const base = ids.indexOf('C_MAL_BASE');
    expect(ids.slice(0, base).map(camel)).toEqual(COUNTER_NAMES.slice(0, base));
    // C_MAL_BASE + codec code - 1 for the 11 codec reasons, then the named sub-reasons, then C_COUNT.
    expect(COUNTER_NAMES[base]).toBe('malformed:truncated');
    const after = ids.slice(base + 1, -1).map((c) => `malformed:${camel(c.replace('C_MAL_', 'C_'))}`);
    expect(after).toEqual(COUNTER_NAMES.slice(base + 11));
    expect(COUNTER_NAMES.length).toBe(base + 11 + after.length);
  });
});
