// Value matching and request normalization, as Istio documents them. Pure.
//
// String values (https://istio.io/latest/docs/reference/config/security/authorization-policy/, "Rule"):
// "Exact match: abc will match on value abc. Prefix match: abc* will match on value abc and abcd. Suffix match:
// *abc will match on value abc and xabc. Presence match: * will match when value is not empty."
//
// Path normalization: Istio's default option is BASE
// (https://istio.io/latest/docs/reference/config/security/normalization/ and the "authorization policy
// normalization best practices" page). Under BASE: the single percent-encoded characters %2d (-), %2e (.),
// %30-%39, %41-%5a, %5f (_), %61-%7a and %7e (~) are decoded, once ("no double decoding"); %2f and %5c are NOT
// decoded (that needs DECODE_AND_MERGE_SLASHES); %00 makes the request fail with 400; a backslash becomes a
// forward slash; `.` and `..` segments are resolved per RFC 3986; multiple slashes are NOT merged (that needs
// MERGE_SLASHES); everything after `?` is removed before matching (the backend still sees the query).
// Remaining percent-escapes get upper-case hex digits (RFC 3986 §6.2.2.1, as Envoy's normalize_path does).
import ipaddr from 'ipaddr.js';

/** Istio's string match: exact, `prefix*`, `*suffix`, `*` (any non-empty value). `value` undefined = absent. */
export function matchString(pattern: string, value: string | undefined, caseInsensitive = false): boolean {
  let v = value ?? '';
  let p = pattern;
  if (caseInsensitive) {
    v = v.toLowerCase();
    p = p.toLowerCase();
  }
  if (p === '*') return v.length > 0;
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  return v === p;
}

/** Whether any pattern matches (an empty or absent list is "no constraint" and is handled by the caller). */
export function matchAny(
  patterns: readonly string[],
  value: string | undefined,
  caseInsensitive = false,
): boolean {
  return patterns.some((p) => matchString(p, value, caseInsensitive));
}

/** A single IP (`203.0.113.4`) or a CIDR (`203.0.113.0/24`), as `ipBlocks` and `source.ip` take them. */
export function ipMatches(block: string, ip: string): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return false;
  }
  let net: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  if (block.includes('/')) [net, bits] = ipaddr.parseCIDR(block);
  else {
    net = ipaddr.process(block);
    bits = net.kind() === 'ipv4' ? 32 : 128;
  }
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress()) {
    net = (net as ipaddr.IPv6).toIPv4Address();
    bits = Math.max(0, bits - 96);
  }
  return addr.kind() === net.kind() && addr.match(net, bits);
}

export function validIpBlock(block: string): boolean {
  try {
    if (block.includes('/')) ipaddr.parseCIDR(block);
    else ipaddr.parse(block);
    return true;
  } catch {
    return false;
  }
}

/** The result of normalizing a request path: the path policies see, or the 400 Istio answers instead. */
export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

// Unreserved characters whose escapes BASE decodes (Istio's table): - . 0-9 A-Z _ a-z ~
function decodableUnderBase(code: number): boolean {
  return (
    code === 0x2d ||
    code === 0x2e ||
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    code === 0x5f ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x7e
  );
}

/** RFC 3986 §5.2.4 remove_dot_segments (the input is an absolute path or empty). */
export function removeDotSegments(input: string): string {
  let inp = input;
  let out = '';
  while (inp.length > 0) {
    if (inp.startsWith('../')) inp = inp.slice(3);
    else if (inp.startsWith('./')) inp = inp.slice(2);
    else if (inp.startsWith('/./')) inp = inp.slice(2);
    else if (inp === '/.') inp = '/';
    else if (inp.startsWith('/../') || inp === '/..') {
      inp = inp === '/..' ? '/' : inp.slice(3);
      const cut = out.lastIndexOf('/');
      out = cut >= 0 ? out.slice(0, cut) : '';
    } else if (inp === '.' || inp === '..') inp = '';
    else {
      const start = inp.startsWith('/') ? 1 : 0;
      const next = inp.indexOf('/', start);
      const seg = next < 0 ? inp : inp.slice(0, next);
      out += seg;
      inp = next < 0 ? '' : inp.slice(next);
    }
  }
  return out;
}

/** Istio BASE normalization of a request target (see the header comment). */
export function normalizePath(raw: string): NormalizedPath {
  const q = raw.indexOf('?');
  let p = q >= 0 ? raw.slice(0, q) : raw;
  const h = p.indexOf('#');
  if (h >= 0) p = p.slice(0, h);
  if (/%00/.test(p)) return { ok: false, reason: 'the path contains %00 (Istio always rejects it with 400)' };
  // Decode once: one left-to-right pass, never re-reading decoded output.
  let decoded = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(p.slice(i + 1, i + 3))) {
      const code = parseInt(p.slice(i + 1, i + 3), 16);
      decoded += decodableUnderBase(code)
        ? String.fromCharCode(code)
        : `%${p.slice(i + 1, i + 3).toUpperCase()}`;
      i += 2;
    } else decoded += c === '\\' ? '/' : c;
  }
  if (!decoded.startsWith('/')) decoded = `/${decoded}`;
  return { ok: true, path: removeDotSegments(decoded) };
}

/**
 * Header lookup as Istio does it: names case-insensitive; repeated headers (names differing only in case here)
 * joined with `,` in the order given. undefined when absent.
 */
export function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const want = name.toLowerCase();
  const vals = Object.entries(headers)
    .filter(([k]) => k.toLowerCase() === want)
    .map(([, v]) => v);
  return vals.length ? vals.join(',') : undefined;
}
