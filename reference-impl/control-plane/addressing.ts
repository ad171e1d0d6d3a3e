// Overlay addresses. Each endpoint that runs an agent (pods, unmanaged hosts) gets one address in
// 100.64.0.0/10 (RFC 6598 shared space: it collides with no pod, node or external range of the testbed).
// The address is a pure function of the endpoint's real address, so it is stable across updates: an agent
// keeps its TUN address for its whole life (the agent refuses an overlayIp change) and a pod that is removed
// and re-added with the same IP gets the same overlay address back.
import ipaddr from 'ipaddr.js';

export const OVERLAY_CIDR = '100.64.0.0/10';

/**
 * 10.B.N.H (B < 63) → 100.(64+B).N.H: the testbed's pod plan (10.C.N.H with cluster C ≥ 1) maps 1:1 and stays
 * readable. 198.19.X.Y (external segment) → 100.127.X.Y. Anything else (custom pod CIDRs) is hashed into
 * 100.126.0.0/16; collisions are resolved by probing in a caller-supplied order (see assignOverlayIps).
 */
export function directOverlayIp(realIp: string): string | undefined {
  const a = ipaddr.parse(realIp);
  if (a.kind() !== 'ipv4') return undefined;
  const o = (a as ipaddr.IPv4).octets;
  if (o[0] === 10 && o[1]! < 63) return `100.${64 + o[1]!}.${o[2]}.${o[3]}`;
  if (o[0] === 198 && o[1] === 19) return `100.127.${o[2]}.${o[3]}`;
  return undefined;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Overlay addresses for a list of real addresses, in the given order. Direct mappings first (they cannot
 * collide with each other); hashed ones probe upward from their hash slot, skipping .0 and .255 hosts.
 */
export function assignOverlayIps(realIps: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const ip of realIps) {
    const d = directOverlayIp(ip);
    if (d) {
      out.set(ip, d);
      used.add(d);
    }
  }
  for (const ip of realIps) {
    if (out.has(ip)) continue;
    let slot = fnv1a(ip) & 0xffff;
    for (let tries = 0; tries < 0x10000; tries++, slot = (slot + 1) & 0xffff) {
      const cand = `100.126.${slot >> 8}.${slot & 0xff}`;
      if ((slot & 0xff) === 0 || (slot & 0xff) === 255 || used.has(cand)) continue;
      out.set(ip, cand);
      used.add(cand);
      break;
    }
    if (!out.has(ip)) throw new Error(`overlay address space exhausted while mapping ${ip}`);
  }
  return out;
}
