// CIDR arithmetic for ipBlock peers: parse once, then match addresses by prefix without re-parsing.
import ipaddr from 'ipaddr.js';
import type { IPBlock } from './model.ts';

export interface ParsedAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: number[];
}

export interface ParsedCIDR extends ParsedAddress {
  bits: number;
}

export function parseAddress(ip: string): ParsedAddress {
  let addr = ipaddr.parse(ip);
  // An IPv4-mapped IPv6 address is the IPv4 endpoint it names.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress())
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  return { family: addr.kind() === 'ipv4' ? 4 : 6, bytes: addr.toByteArray() };
}

export function parseCIDR(cidr: string): ParsedCIDR {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  return { family: addr.kind() === 'ipv4' ? 4 : 6, bytes: addr.toByteArray(), bits };
}

/** True when `addr` lies in `cidr`; an address of the other family is never inside. */
export function cidrContains(cidr: ParsedCIDR, addr: ParsedAddress): boolean {
  if (cidr.family !== addr.family) return false;
  let bits = cidr.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i]! & mask) !== (addr.bytes[i]! & mask)) return false;
  }
  return true;
}

export interface CompiledIPBlock {
  cidr: ParsedCIDR;
  except: ParsedCIDR[];
}

export function compileIPBlock(block: IPBlock): CompiledIPBlock {
  return { cidr: parseCIDR(block.cidr), except: (block.except ?? []).map(parseCIDR) };
}

/** In `cidr` and in none of the `except` ranges. */
export function ipBlockContains(block: CompiledIPBlock, addr: ParsedAddress): boolean {
  return cidrContains(block.cidr, addr) && !block.except.some((e) => cidrContains(e, addr));
}

export function ipInBlock(ip: string, block: IPBlock): boolean {
  return ipBlockContains(compileIPBlock(block), parseAddress(ip));
}
