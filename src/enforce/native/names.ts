// Stable nftables identifiers. Kubernetes names are DNS-1123 (lower-case letters, digits, `-`, `.`), so `_`
// never occurs in them and can join parts without ambiguity; anything else (or anything too long) is replaced
// by a readable stem plus a hash of the exact original, so two objects never share a chain or set name.
import { createHash } from 'node:crypto';

/** Kept well below the kernel's 256-byte limit so names stay readable in `nft list` output. */
export const MAX_NAME = 64;

export function shortHash(text: string, len = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, len);
}

const SAFE_PART = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** `prefix_part1_part2…`, always a valid nft identifier (starts with a letter, only [A-Za-z0-9_.-]). */
export function nftName(prefix: string, ...parts: string[]): string {
  const safe = parts.every((p) => SAFE_PART.test(p));
  const joined = [prefix, ...parts].join('_');
  if (safe && joined.length <= MAX_NAME) return joined;
  const stem = [prefix, ...parts.map((p) => p.toLowerCase().replace(/[^a-z0-9.-]+/g, '-'))].join('_');
  const h = shortHash(JSON.stringify([prefix, ...parts]));
  return `${stem.slice(0, MAX_NAME - h.length - 1)}_${h}`;
}
