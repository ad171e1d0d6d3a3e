// HTTP/1.1 framing for the inbound sidecar: request heads, body ends (length, chunked, split anywhere),
// response framing, and the smuggling-shaped inputs it refuses.
import { describe, expect, it } from 'vitest';
import { BodyScanner, parseRequestHead, parseResponseHead, serializeHead } from './http1.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseRequestHead', () => {
  it('parses method, raw target, headers and framing', () => {
    const r = parseRequestHead(b('GET /a/%2e%2e/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\nrest'));
    expect('head' in r && r.head).toEqual({
      method: 'GET',
      target: '/a/%2e%2e/b?x=1',
      headers: [
        ['Host', 'h'],
        ['X-A', '1'],
      ],
      body: 0,
      close: false,
    });
    expect('used' in r && r.used).toBe(b('GET /a/%2e%2e/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n').length);
    expect(parseRequestHead(b('GET / HTTP/1.1\r\nHost: h\r\n'))).toEqual({ need: true });
    const post = parseRequestHead(b('POST / HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\n'));
    expect('head' in post && [post.head.body, post.head.close]).toEqual([5, true]);
    const http10 = parseRequestHead(b('GET / HTTP/1.0\r\n\r\n'));
    expect('head' in http10 && http10.head.close).toBe(true);
  });
  it('refuses smuggling-shaped and malformed heads', () => {
    for (const bad of [
      'POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n',
      'POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n',
      'POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n',
      'GET / HTTP/2.0\r\n\r\n',
      'GET  / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nbad header\r\n\r\n',
    ])
      expect('error' in parseRequestHead(b(bad)), bad).toBe(true);
  });
  it('serializes a head back', () => {
    const r = parseRequestHead(b('GET /x HTTP/1.1\r\nHost: h\r\n\r\n'));
    expect(serializeHead('head' in r ? r.head : (undefined as never)).toString()).toBe(
      'GET /x HTTP/1.1\r\nHost: h\r\n\r\n',
    );
  });
});

describe('BodyScanner', () => {
  it('counts a Content-Length body across pieces', () => {
    const s = new BodyScanner(5);
    expect(s.feed(b('abc'))).toBe(-1);
    expect(s.feed(b('deNEXT'))).toBe(2);
    expect(s.done).toBe(true);
  });
  it('finds the end of a chunked body however the bytes are split', () => {
    const body = '4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n';
    const all = b(body + 'GET');
    for (let cut = 0; cut <= body.length; cut++) {
      const s = new BodyScanner('chunked');
      const first = s.feed(all.subarray(0, cut));
      const end = first >= 0 ? first : cut + s.feed(all.subarray(cut));
      expect(end, `cut ${cut}`).toBe(body.length);
    }
  });
  it('rejects a bad chunk size; a zero-length body is done at once', () => {
    expect(() => new BodyScanner('chunked').feed(b('zz\r\n'))).toThrow(/chunk size/);
    expect(new BodyScanner(0).done).toBe(true);
    expect(new BodyScanner('close').feed(b('anything'))).toBe(-1);
  });
});

describe('parseResponseHead', () => {
  it('frames by status, method, length, chunking or close', () => {
    const f = (s: string, head = false) => {
      const r = parseResponseHead(b(s), head);
      return 'framing' in r ? [r.status, r.framing, r.close] : r;
    };
    expect(f('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n')).toEqual([200, 3, false]);
    expect(f('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n', true)).toEqual([200, 0, false]);
    expect(f('HTTP/1.1 204 No Content\r\n\r\n')).toEqual([204, 0, false]);
    expect(f('HTTP/1.1 100 Continue\r\n\r\n')).toEqual([100, 0, false]);
    expect(f('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')).toEqual([200, 'chunked', false]);
    expect(f('HTTP/1.1 200 OK\r\n\r\n')).toEqual([200, 'close', true]);
    expect(f('HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\n')).toEqual([200, 1, true]);
    expect(f('nonsense\r\n\r\n')).toEqual({ error: 'bad status line' });
  });
});
