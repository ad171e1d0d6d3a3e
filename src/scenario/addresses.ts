// The automatic address plan, both families, and the CIDR arithmetic it needs (pure).
//
// IPv4 (unchanged): pods 10.<c>.<n>.0/24 per node out of 10.<c>.0.0/16 per cluster; underlay 198.18.<c>.0/24
// (the RFC 2544 benchmarking range, so nothing looks like a real network); externals 198.19.0.0/24.
// IPv6 mirrors it inside the unique local range fd00::/8 (RFC 4193), with the IPv4 plan's numbers as groups:
//   cluster c (0-based) pods   fd00:10:<c+1>::/48,  node n pods fd00:10:<c+1>:<n+1>::/64
//   cluster c underlay         fd00:198:18:<c>::/64, node n at ::<10+n>, router gateway ::1
//   external segment           fd00:198:19::/64, external k at ::<10+k>, router gateway ::1
// Host numbers are the same as IPv4's, written in hexadecimal (pod host 10 → ::a): x/a of the conformance
// model is 10.1.1.10 and fd00:10:1:1::a. A dual-stack pod's two addresses share the host number when both
// are automatic.
import ipaddr from 'ipaddr.js';
import type { IPFamily } from '../policy/model.ts';

const hex = (n: number) => n.toString(16);

/** Canonical text (RFC 5952: `fd00:198:18::a`, not `fd00:198:18:0::a`), so plan addresses compare as strings. */
const norm = (ip: string) => ipaddr.parse(ip).toString();
const normCIDR = (c: string) => {
  const [a, bits] = c.split('/');
  return `${norm(a!)}/${bits}`;
};

export const ADDRESS_PLAN_V6 = {
  clusterPodCIDR: (ci: number) => normCIDR(`fd00:10:${hex(ci + 1)}::/48`),
  nodePodCIDR: (ci: number, ni: number) => normCIDR(`fd00:10:${hex(ci + 1)}:${hex(ni + 1)}::/64`),
  underlayCIDR: (ci: number) => normCIDR(`fd00:198:18:${hex(ci)}::/64`),
  nodeIP: (ci: number, ni: number) => norm(`fd00:198:18:${hex(ci)}::${hex(10 + ni)}`),
  gateway: (ci: number) => norm(`fd00:198:18:${hex(ci)}::1`),
  externalCIDR: 'fd00:198:19::/64',
  externalGateway: 'fd00:198:19::1',
  externalIP: (k: number) => norm(`fd00:198:19::${hex(10 + k)}`),
};

export function cidrFamily(cidr: string): IPFamily {
  return ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4' ? 'IPv4' : 'IPv6';
}

export function ipFamily(ip: string): IPFamily {
  return ipaddr.parse(ip).kind() === 'ipv4' ? 'IPv4' : 'IPv6';
}

export function inCIDR(ip: string, cidr: string): boolean {
  const addr = ipaddr.parse(ip);
  const [net, bits] = ipaddr.parseCIDR(cidr);
  return addr.kind() === net.kind() && addr.match(net, bits);
}

function toBig(bytes: number[]): bigint {
  return bytes.reduce((a, b) => (a << 8n) | BigInt(b), 0n);
}

function fromBig(v: bigint, len: 4 | 16): string {
  const bytes: number[] = [];
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** The k-th address of a CIDR, counted from the network address (either family). */
export function nthHost(cidr: string, k: number): string {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  const len = net.kind() === 'ipv4' ? 4 : 16;
  const hostBits = len * 8 - bits;
  // IPv4 keeps the broadcast address free; IPv6 has none, but the last address is left free all the same.
  if (BigInt(k) >= (1n << BigInt(hostBits)) - 1n)
    throw new Error(`pod CIDR ${cidr} has no room for host number ${k}`);
  return fromBig(toBig(net.toByteArray()) + BigInt(k), len);
}

/**
 * Node `ni`'s pod CIDR carved out of a cluster's: the (ni+1)-th /24 (IPv4) or /64 (IPv6), as kube-controller-
 * manager's default node CIDR mask sizes. Throws a plain reason when the cluster CIDR is too small.
 */
export function carveNodeCIDR(clusterCIDR: string, ni: number): string {
  const [net, bits] = ipaddr.parseCIDR(clusterCIDR);
  const v4 = net.kind() === 'ipv4';
  const size = v4 ? 24 : 64;
  const len = v4 ? 4 : 16;
  const room = size - bits;
  if (room < 1 || BigInt(ni + 1) >= 1n << BigInt(room))
    throw new Error(
      `cluster podCIDR ${clusterCIDR} has no room for node /${size} number ${ni + 1} (give each node a podCIDR)`,
    );
  const base = toBig(net.toByteArray()) + (BigInt(ni + 1) << BigInt(len * 8 - size));
  return `${fromBig(base, len)}/${size}`;
}

/** Whether two CIDRs of one family share an address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const na = ipaddr.parseCIDR(a)[0].toString();
  const nb = ipaddr.parseCIDR(b)[0].toString();
  return inCIDR(na, b) || inCIDR(nb, a);
}
