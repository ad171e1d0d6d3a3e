// Probe primitives shared by the one-shot client (probe-client.mjs) and the per-host server, which also takes
// probe requests on stdin so that repeated probes from a host spawn no process at all.
import net from 'node:net';
import dgram from 'node:dgram';

export function tcpProbe(t, timeoutMs) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const sock = net.connect({ host: t.ip, port: t.port });
    let buf = '';
    const done = (r) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ key: t.key, us: Number((process.hrtime.bigint() - start) / 1000n), ...r });
    };
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs);
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) done({ ok: true, identity: buf.slice(0, nl) });
    });
    sock.on('error', (e) => done({ ok: false, error: e.code ?? e.message }));
    sock.on('close', () => done({ ok: false, error: 'closed' }));
  });
}

/**
 * One HTTP/1.1 request on a new connection, written byte for byte as given (so path tricks such as
 * `/admin/../x` or `%2E` reach the proxy unaltered; Node's http client would reject or rewrite some).
 * Resolves {ok, status, identity, body}: ok only for a 2xx answer; `identity` is the app's `x-testbed-id`
 * (absent when the proxy answered itself, as with `403 RBAC: access denied`); errors as tcpProbe.
 */
export function httpProbe(t, timeoutMs) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const h = t.http;
    const host = h.host ?? (t.port === 80 ? hostOf(t.ip) : `${hostOf(t.ip)}:${t.port}`);
    const lines = [`${h.method} ${h.path} HTTP/1.1`, `host: ${host}`];
    for (const [k, v] of Object.entries(h.headers ?? {})) lines.push(`${k}: ${v}`);
    lines.push('connection: close', '', '');
    const sock = net.connect({ host: t.ip, port: t.port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ key: t.key, us: Number((process.hrtime.bigint() - start) / 1000n), ...r });
    };
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs);
    const parse = (final) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0)
        return final ? done({ ok: false, error: buf.length ? 'bad response' : 'closed' }) : undefined;
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
      if (!m) return done({ ok: false, error: 'bad response' });
      const hdr = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) hdr[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(hdr['content-length'] ?? NaN);
      const body = buf.subarray(end + 4);
      if (!final && Number.isFinite(len) && body.length < len) return undefined;
      if (!final && !Number.isFinite(len)) return undefined; // read to close
      const status = Number(m[1]);
      const text = body.subarray(0, Number.isFinite(len) ? len : body.length).toString('utf8');
      done({
        ok: status >= 200 && status < 300,
        status,
        identity: hdr['x-testbed-id'],
        body: text.slice(0, 200),
      });
    };
    sock.on('connect', () => sock.write(lines.join('\r\n')));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      parse(false);
    });
    sock.on('end', () => parse(true));
    sock.on('error', (e) => done({ ok: false, error: e.code ?? e.message }));
    sock.on('close', () => parse(true));
  });
}

function hostOf(ip) {
  return ip.includes(':') ? `[${ip}]` : ip;
}

export function udpProbe(t, timeoutMs, tries) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const sock = dgram.createSocket(net.isIPv6(t.ip) ? 'udp6' : 'udp4');
    let left = tries;
    let timer;
    const done = (r) => {
      clearTimeout(timer);
      sock.close();
      resolve({ key: t.key, us: Number((process.hrtime.bigint() - start) / 1000n), ...r });
    };
    const send = () => {
      if (left-- <= 0) return done({ ok: false, error: 'timeout' });
      sock.send('?', t.port, t.ip, (e) => e && done({ ok: false, error: e.code ?? e.message }));
      timer = setTimeout(send, Math.ceil(timeoutMs / tries));
    };
    sock.on('message', (m) => done({ ok: true, identity: m.toString() }));
    // ICMP port unreachable surfaces as ECONNREFUSED on the next operation of a connected socket only;
    // an unconnected socket just times out, which is also "not reached".
    sock.on('error', (e) => done({ ok: false, error: e.code ?? e.message }));
    send();
  });
}

/** Probes every target with at most `req.concurrency` in flight; results in target order. */
export async function probeAll(req) {
  const results = new Array(req.targets.length);
  let next = 0;
  async function worker() {
    while (next < req.targets.length) {
      const i = next++;
      const t = req.targets[i];
      if (t.protocol === 'TCP' && t.http) results[i] = await httpProbe(t, req.timeoutMs);
      else if (t.protocol === 'TCP') results[i] = await tcpProbe(t, req.timeoutMs);
      else if (t.protocol === 'UDP') results[i] = await udpProbe(t, req.timeoutMs, req.udpTries);
      else results[i] = { key: t.key, ok: false, error: 'unsupported' };
    }
  }
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(req.concurrency, req.targets.length)) }, worker),
  );
  return results;
}
