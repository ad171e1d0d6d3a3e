// CRR latency worker, run inside the source host: for each request a NEW TCP connection — connect, wait for
// the probe server's identity line, send one payload, wait for its echo, close — timed from connect() to the
// echo with process.hrtime.bigint(). This is where native enforcement pays (conntrack + rule walk per SYN).
// argv[2] = JSON {ip, port, requests, warmup, payloadBytes, timeoutMs}. Prints {ns: [...], lost}.
import net from 'node:net';

const spec = JSON.parse(process.argv[2]);
const payload = Buffer.alloc(Math.max(2, spec.payloadBytes ?? 64), 0x61);
const ns = [];
let lost = 0;

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ host: spec.ip, port: spec.port });
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let banner = false;
    const timer = setTimeout(() => done(false), spec.timeoutMs);
    function done(ok) {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok ? Number(process.hrtime.bigint() - t0) : null);
    }
    sock.on('error', () => done(false));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!banner) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        buf = buf.subarray(nl + 1);
        banner = true;
        sock.write(payload);
      }
      if (buf.length >= payload.length) done(true);
    });
  });
}

for (let i = 0; i < spec.warmup + spec.requests; i++) {
  const t = await once();
  if (i < spec.warmup) continue;
  if (t === null) lost++;
  else ns.push(t);
  // A connection that keeps failing is a configuration error, not a measurement.
  if (lost > 50 && ns.length === 0) {
    process.stderr.write(`crr: first ${lost} connections to ${spec.ip}:${spec.port} failed\n`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify({ ns, lost }));
process.exit(0);
