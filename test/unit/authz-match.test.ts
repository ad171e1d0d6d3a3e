// String matching, IP blocks, headers and Istio's BASE path normalization.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  headerValue,
  ipMatches,
  matchString,
  normalizePath,
  removeDotSegments,
} from '../../src/policy/authz/match.ts';

const norm = (p: string) => {
  const n = normalizePath(p);
  if (!n.ok) throw new Error(n.reason);
  return n.path;
};

describe('matchString', () => {
  it('exact, prefix, suffix, presence', () => {
    expect(matchString('abc', 'abc')).toBe(true);
    expect(matchString('abc', 'abcd')).toBe(false);
    expect(matchString('abc*', 'abc')).toBe(true);
    expect(matchString('abc*', 'abcd')).toBe(true);
    expect(matchString('abc*', 'xabc')).toBe(false);
    expect(matchString('*abc', 'abc')).toBe(true);
    expect(matchString('*abc', 'xabc')).toBe(true);
    expect(matchString('*abc', 'abcx')).toBe(false);
    expect(matchString('*', 'x')).toBe(true);
    expect(matchString('*', '')).toBe(false);
    expect(matchString('*', undefined)).toBe(false);
    expect(matchString('a', undefined)).toBe(false);
  });
  it('is case-sensitive unless asked', () => {
    expect(matchString('GET', 'get')).toBe(false);
    expect(matchString('Shop.Example', 'shop.example', true)).toBe(true);
    expect(matchString('*.Example', 'a.EXAMPLE', true)).toBe(true);
  });
  it('property: p* matches every extension of p, *s every value ending in s', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[^*]{1,8}$/), fc.stringMatching(/^[^*]{1,8}$/), (p, s) => {
        expect(matchString(`${p}*`, p + s)).toBe(true);
        expect(matchString(`*${s}`, p + s)).toBe(true);
        expect(matchString('*', p + s)).toBe((p + s).length > 0);
      }),
    );
  });
});

describe('ipMatches', () => {
  it('single addresses and CIDRs', () => {
    expect(ipMatches('10.1.1.10', '10.1.1.10')).toBe(true);
    expect(ipMatches('10.1.1.10', '10.1.1.11')).toBe(false);
    expect(ipMatches('10.1.1.0/24', '10.1.1.200')).toBe(true);
    expect(ipMatches('10.1.1.0/24', '10.1.2.1')).toBe(false);
    expect(ipMatches('fd00::/64', 'fd00::5')).toBe(true);
    expect(ipMatches('10.0.0.0/8', 'fd00::5')).toBe(false);
    expect(ipMatches('10.0.0.0/8', '::ffff:10.1.1.1')).toBe(true);
    expect(ipMatches('10.0.0.0/8', '')).toBe(false);
  });
});

describe('headerValue', () => {
  it('is case-insensitive on names and joins repeats with commas', () => {
    expect(headerValue({ 'X-User': 'alice' }, 'x-user')).toBe('alice');
    expect(headerValue({ 'x-a': '1', 'X-A': '2' }, 'X-a')).toBe('1,2');
    expect(headerValue({ 'x-a': '1' }, 'x-b')).toBeUndefined();
    expect(headerValue(undefined, 'x-b')).toBeUndefined();
  });
});

describe('normalizePath (Istio BASE)', () => {
  it('resolves dot segments per RFC 3986', () => {
    expect(norm('/admin/../public')).toBe('/public');
    expect(norm('/public/./data/abc/../xyz')).toBe('/public/data/xyz');
    expect(norm('/../../admin')).toBe('/admin');
    expect(norm('/a/b/..')).toBe('/a/');
    expect(norm('/a/.')).toBe('/a/');
    expect(removeDotSegments('/a/b/c/./../../g')).toBe('/a/g');
    expect(removeDotSegments('mid/content=5/../6')).toBe('mid/6');
  });
  it('decodes the unreserved escapes once, before resolving dots', () => {
    expect(norm('/some%2fdata/%61%62%63')).toBe('/some%2Fdata/abc');
    expect(norm('/public/%2e%2e/admin')).toBe('/admin');
    expect(norm('/public/%2E%2E/admin')).toBe('/admin');
    expect(norm('/%41%5a%5f%7e%2d%30')).toBe('/AZ_~-0');
    // no double decoding: %25 is not unreserved, so %252e stays an escape
    expect(norm('/a/%252e%252e/b')).toBe('/a/%252e%252e/b');
  });
  it('keeps %2F and %5C encoded and slashes unmerged (MERGE_SLASHES / DECODE_AND_MERGE_SLASHES are not BASE)', () => {
    expect(norm('/admin%2Fsecret')).toBe('/admin%2Fsecret');
    expect(norm('/admin%5csecret')).toBe('/admin%5Csecret');
    expect(norm('//admin')).toBe('//admin');
    expect(norm('/a//b')).toBe('/a//b');
  });
  it('turns backslashes into slashes', () => {
    expect(norm('/some\\data')).toBe('/some/data');
    expect(norm('/public\\..\\admin')).toBe('/admin');
  });
  it('drops the query string (and a fragment)', () => {
    expect(norm('/foo?v=1')).toBe('/foo');
    expect(norm('/foo/../bar?x=/../admin')).toBe('/bar');
    expect(norm('/foo#frag')).toBe('/foo');
  });
  it('rejects %00', () => {
    expect(normalizePath('/a%00b')).toEqual({ ok: false, reason: expect.stringMatching(/%00/) });
  });
  it('property: the result starts with / and has no dot segments; plain paths are unchanged', () => {
    const seg = fc.stringMatching(/^[a-z0-9._~%-]{0,6}$/);
    fc.assert(
      fc.property(fc.array(fc.oneof(seg, fc.constant('.'), fc.constant('..')), { maxLength: 6 }), (segs) => {
        const n = normalizePath(`/${segs.join('/')}`);
        if (!n.ok) return;
        expect(n.path.startsWith('/')).toBe(true);
        const parts = n.path.split('/');
        expect(parts.slice(1).every((p) => p !== '.' && p !== '..')).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9]{1,5}$/), { maxLength: 5 }), (segs) => {
        const p = `/${segs.join('/')}`;
        expect(norm(p)).toBe(p);
      }),
    );
  });
});
