// Overlay IPv6 addresses. An endpoint with an IPv6 address gets an overlay IPv6 address too, in fd64:ffff::/96
// (unique local, RFC 4193; apart from the testbed's fd00:… plan), whose last 32 bits are the endpoint's overlay
// IPv4 address: the RFC 6052 style of embedding. So one 32-bit identity names the endpoint in both families,
// and the SaP keys endpoints, peers and flows by it (flows additionally by family), while policy entries stay
// per family: what a dual-stack endpoint may do over IPv4 and over IPv6 is decided separately.
import ipaddr from 'ipaddr.js';

export const OVERLAY_CIDR6 = 'fd64:ffff::/96';

/** fd64:ffff::a.b.c.d for overlay IPv4 a.b.c.d, in canonical text. */
export function overlayIp6(overlayIp4: string): string {
  const o = ipaddr.IPv4.parse(overlayIp4).octets;
  return ipaddr.fromByteArray([0xfd, 0x64, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, ...o]).toString();
}

/** The /96 as three 32-bit words, as the SaP's parser compares them. */
export function overlayPrefixWords(cidr = OVERLAY_CIDR6): Uint32Array {
  const b = ipaddr.parseCIDR(cidr)[0].toByteArray();
  const w = new Uint32Array(3);
  for (let i = 0; i < 3; i++)
    w[i] = ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
  return w;
}

/** Canonical text of an address (the form Node reports in `rinfo.address`), so string comparisons hold. */
export function canonicalIp(ip: string): string {
  return ipaddr.parse(ip).toString();
}
