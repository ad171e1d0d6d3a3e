// Address-interval arithmetic for rendering ipBlock peers into nftables interval sets. nft rejects overlapping
// elements in an interval set, and `except` must be carved out exactly (never widened), so ranges are computed
// here as sorted, disjoint, inclusive [lo, hi] pairs and rendered back as CIDR prefixes.
import ipaddr from 'ipaddr.js';
import type { IPBlock } from '../../policy/model.ts';

export type Family = 4 | 6;
export type Interval = readonly [bigint, bigint];

function width(family: Family): number {
  return family === 4 ? 32 : 128;
}

function toBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

const parsedCidrs = new Map<string, { family: Family; interval: Interval }>();

export function cidrInterval(cidr: string): { family: Family; interval: Interval } {
  let hit = parsedCidrs.get(cidr);
  if (!hit) {
    // Thousands of policies repeat a handful of CIDRs; parsing (ipaddr tries IPv6 first) dominates otherwise.
    if (parsedCidrs.size > 50_000) parsedCidrs.clear();
    parsedCidrs.set(cidr, (hit = parseCidrInterval(cidr)));
  }
  return hit;
}

function parseCidrInterval(cidr: string): { family: Family; interval: Interval } {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  const family: Family = addr.kind() === 'ipv4' ? 4 : 6;
  const w = BigInt(width(family));
  const hostBits = w - BigInt(bits);
  // The network address is taken from the prefix: `10.0.0.5/24` means 10.0.0.0/24, as Kubernetes treats it.
  const lo = (toBig(addr.toByteArray()) >> hostBits) << hostBits;
  return { family, interval: [lo, lo + (1n << hostBits) - 1n] };
}

/** Sorts and merges overlapping or adjacent intervals. */
export function normalize(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

/** `base` minus `holes`; both normalized. */
export function subtract(base: Interval[], holes: Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const [lo0, hi] of base) {
    let lo = lo0;
    while (j < holes.length && holes[j]![1] < lo) j++;
    let k = j;
    while (k < holes.length && holes[k]![0] <= hi && lo <= hi) {
      const [hlo, hhi] = holes[k]!;
      if (hlo > lo) out.push([lo, hlo - 1n]);
      lo = hhi + 1n;
      k++;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}

/**
 * The addresses a set of ipBlocks admits, per family: each block's CIDR minus its own `except` ranges, unioned.
 * An `except` of the other family than its CIDR carves nothing (it contains none of the CIDR's addresses).
 */
export function ipBlockIntervals(blocks: IPBlock[]): { v4: Interval[]; v6: Interval[] } {
  const acc: Record<Family, Interval[]> = { 4: [], 6: [] };
  for (const b of blocks) {
    const { family, interval } = cidrInterval(b.cidr);
    const holes = normalize(
      (b.except ?? [])
        .map(cidrInterval)
        .filter((e) => e.family === family)
        .map((e) => e.interval),
    );
    acc[family].push(...subtract([interval], holes));
  }
  return { v4: normalize(acc[4]), v6: normalize(acc[6]) };
}

function formatAddress(v: bigint, family: Family): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = new Array(n);
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return family === 4 ? bytes.join('.') : ipaddr.fromByteArray(bytes).toString();
}

/** The smallest list of CIDR prefixes covering exactly [lo, hi]; a single address is rendered without `/n`. */
export function intervalToCidrs([lo, hi]: Interval, family: Family): string[] {
  const w = width(family);
  const out: string[] = [];
  let cur = lo;
  while (cur <= hi) {
    // The largest aligned block starting at `cur` that does not pass `hi`.
    let size = 0;
    while (
      size < w &&
      (cur & ((1n << BigInt(size + 1)) - 1n)) === 0n &&
      cur + (1n << BigInt(size + 1)) - 1n <= hi
    )
      size++;
    const prefix = w - size;
    out.push(prefix === w ? formatAddress(cur, family) : `${formatAddress(cur, family)}/${prefix}`);
    cur += 1n << BigInt(size);
  }
  return out;
}

export function renderIntervals(list: Interval[], family: Family): string[] {
  return list.flatMap((iv) => intervalToCidrs(iv, family));
}
