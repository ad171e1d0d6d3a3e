// IPv4 attack packets and the attack lab's scenario, shared by overlay-security.test.ts and
// bench/overlay-ebpf-security.ts (overlay-attacks6.ts has the IPv6 packets and uses gueHex): inner IPv4/UDP, GUE
// (Proto 4, or any) around it with any overlay id, epoch and key, and GUE-level malformations of a valid packet.
import { encodeHeader, PROTO_IPV4 } from '../../reference-impl/gue/codec.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import type { Scenario } from '../../src/scenario/types.ts';

export type Family = 'ipv4' | 'ipv6' | 'dual';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6', 'dual'];

/** Two nodes with one pod each and an external attacker; `ipv6` IPv6-only, `dual` dual-stack (IPv4 underlay). */
export function scenario(family: Family): Scenario {
  const families = { ipv4: '', ipv6: ', ipFamilies: [IPv6]', dual: ', ipFamilies: [IPv4, IPv6]' }[family];
  return parseScenario(
    'security.yaml',
    `
name: security
topology:
  clusters: [{ name: c1${families}, nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: attacker }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, node: n1 }
  - { namespace: app, name: b, node: n2 }
`,
  );
}

/** IPv4 + UDP from port 40000, header checksum set. */
export function ipv4Udp(src: string, dst: string, dport: number, payload: Buffer): Buffer {
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
  b.writeUInt16BE(8 + payload.length, 24); // UDP checksum 0: none (IPv4)
  payload.copy(b, 28);
  return b;
}

/** A GUE datagram (hex, as the UDP tool takes it) with any overlay id, epoch and key around `inner`. */
export function gueHex(proto: number, overlayId: number, epoch: number, key: Buffer, inner: Buffer): string {
  const buf = Buffer.alloc(256 + inner.length);
  const hl = encodeHeader(buf, 0, proto, overlayId, epoch, key);
  inner.copy(buf, hl);
  return buf.subarray(0, hl + inner.length).toString('hex');
}

/** GUE (Proto 4) around an inner IPv4 packet, as hex. */
export const gue4 = (overlayId: number, epoch: number, key: Buffer, inner: Buffer): string =>
  gueHex(PROTO_IPV4, overlayId, epoch, key, inner);

/** GUE-level malformations of a valid packet (hex): byte offset and the bits flipped there. */
export function malformedGue(valid: string): string[] {
  return [
    '00',
    'ffffffff',
    '1f04000000000000',
    'a1b2c3',
    valid.slice(0, 30),
    ...[
      [0, 0x40], // version 1
      [0, 0x20], // control bit
      [11, 0x01], // reserved byte
      [10, 0x07], // auth length disagrees with Hlen
      [1, 0x33], // protocol neither 4 nor 41
    ].map(([at, bits]) => {
      const b = Buffer.from(valid, 'hex');
      b[at!] = b[at!]! ^ bits!;
      return b.toString('hex');
    }),
  ];
}
