// HTTP/1.1 message framing for the inbound sidecar, without Node's http server and client: parse a request
// head (what authorization needs), then forward bodies and responses as bytes, counting only where each message
// ends (Content-Length, chunked, or until close). One request is in flight per connection (pipelined requests
// wait in the buffer), so a 403 can be written in order. Pure: no I/O; the caller feeds bytes.

export interface RequestHead {
  method: string;
  target: string;
  /** Header lines as sent (name case kept), for authorization and for re-serializing. */
  headers: [string, string][];
  /** Body framing: bytes, 'chunked', or 0. */
  body: number | 'chunked';
  /** Whether the client asked to close after this request. */
  close: boolean;
}

export type HeadResult = { head: RequestHead; used: number } | { need: true } | { error: string };

const MAX_HEAD = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseRequestHead(buf: Buffer): HeadResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > MAX_HEAD ? { error: 'request head too large' } : { need: true };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(lines[0]!);
  if (!m || !TOKEN.test(m[1]!)) return { error: 'bad request line' };
  const headers: [string, string][] = [];
  let cl: number | undefined;
  let chunked = false;
  let close = m[3] === '0';
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0 || !TOKEN.test(l.slice(0, i))) return { error: 'bad header line' };
    const name = l.slice(0, i);
    const value = l.slice(i + 1).trim();
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      if (!/^\d+$/.test(value) || (cl !== undefined && cl !== Number(value)))
        return { error: 'bad content-length' };
      cl = Number(value);
    } else if (lower === 'transfer-encoding') {
      if (value.toLowerCase() !== 'chunked') return { error: 'unsupported transfer-encoding' };
      chunked = true;
    } else if (lower === 'connection') close = close || /(^|,)\s*close\s*(,|$)/i.test(value);
    headers.push([name, value]);
  }
  // Both framings at once is the classic smuggling vector: refuse (RFC 9112 §6.1).
  if (chunked && cl !== undefined) return { error: 'both content-length and chunked' };
  return {
    head: { method: m[1]!, target: m[2]!, headers, body: chunked ? 'chunked' : (cl ?? 0), close },
    used: end + 4,
  };
}

/** Serializes a request head (after the caller dropped or added headers). */
export function serializeHead(h: RequestHead): Buffer {
  return Buffer.from(
    `${h.method} ${h.target} HTTP/1.1\r\n${h.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
    'latin1',
  );
}

/**
 * Finds where a body ends in a byte stream: `feed(buf, off)` returns the offset just past the body's last byte
 * when it ends within `buf`, else -1 (everything from `off` belongs to the body). Chunked bodies are scanned
 * (sizes, extensions, trailers), never decoded.
 */
export class BodyScanner {
  private left: number;
  private state: 'size' | 'data' | 'dataCrlf' | 'trailer' | 'done' | 'close';
  private line = '';

  constructor(framing: number | 'chunked' | 'close') {
    this.left = typeof framing === 'number' ? framing : 0;
    this.state =
      framing === 'chunked' ? 'size' : framing === 'close' ? 'close' : this.left === 0 ? 'done' : 'data';
    this.chunked = framing === 'chunked';
  }
  private readonly chunked: boolean;

  get done(): boolean {
    return this.state === 'done';
  }

  /** The body ends when the connection closes (a response without length or chunking). */
  get toClose(): boolean {
    return this.state === 'close';
  }

  feed(buf: Buffer, off = 0): number {
    let i = off;
    while (i <= buf.length) {
      switch (this.state) {
        case 'done':
          return i;
        case 'close':
          return -1;
        case 'data': {
          const take = Math.min(this.left, buf.length - i);
          this.left -= take;
          i += take;
          if (this.left > 0) return -1;
          this.state = this.chunked ? 'dataCrlf' : 'done';
          break;
        }
        case 'size':
        case 'dataCrlf':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, i);
          if (nl < 0) {
            this.line += buf.subarray(i).toString('latin1');
            if (this.line.length > 8192) throw new Error('chunk line too long');
            return -1;
          }
          const line = (this.line + buf.subarray(i, nl).toString('latin1')).replace(/\r$/, '');
          this.line = '';
          i = nl + 1;
          if (this.state === 'dataCrlf') {
            if (line !== '') throw new Error('missing CRLF after chunk');
            this.state = 'size';
          } else if (this.state === 'size') {
            const size = /^([0-9a-fA-F]+)(;.*)?$/.exec(line);
            if (!size) throw new Error('bad chunk size');
            this.left = parseInt(size[1]!, 16);
            this.state = this.left === 0 ? 'trailer' : 'data';
          } else if (line === '') this.state = 'done';
          break;
        }
      }
      if (i === buf.length && this.state !== 'done') return -1;
    }
    return -1;
  }
}

export type ResponseHeadResult =
  | { status: number; framing: number | 'chunked' | 'close'; used: number; close: boolean }
  | { need: true }
  | { error: string };

/** A response head's status and body framing (`isHead`: the request was HEAD, so no body follows). */
export function parseResponseHead(buf: Buffer, isHead: boolean): ResponseHeadResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > MAX_HEAD ? { error: 'response head too large' } : { need: true };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
  if (!m) return { error: 'bad status line' };
  const status = Number(m[2]);
  let cl: number | undefined;
  let chunked = false;
  let close = m[1] === '0';
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).toLowerCase();
    const v = l.slice(i + 1).trim();
    if (k === 'content-length') cl = Number(v);
    else if (k === 'transfer-encoding') chunked = /chunked/i.test(v);
    else if (k === 'connection') close = close || /close/i.test(v);
  }
  const noBody = isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
  const framing = noBody ? 0 : chunked ? 'chunked' : cl !== undefined && Number.isFinite(cl) ? cl : 'close';
  return { status, framing, used: end + 4, close: close || framing === 'close' };
}
