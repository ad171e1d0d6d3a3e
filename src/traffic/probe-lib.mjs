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
      if (t.protocol === 'TCP') results[i] = await tcpProbe(t, req.timeoutMs);
      else if (t.protocol === 'UDP') results[i] = await udpProbe(t, req.timeoutMs, req.udpTries);
      else results[i] = { key: t.key, ok: false, error: 'unsupported' };
    }
  }
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(req.concurrency, req.targets.length)) }, worker),
  );
  return results;
}
