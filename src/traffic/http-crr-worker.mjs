// HTTP CRR latency worker, run inside the source host: for each request a NEW TCP connection carrying one
// HTTP/1.1 GET (`connection: close`), timed from connect() until the whole response has arrived, with
// process.hrtime.bigint(). Under the +l7 modes this is where the mesh pays most: each connection is a new
// mutual-TLS handshake between the sidecars. argv[2] = JSON {ip, port, path, requests, warmup, timeoutMs}.
// Prints {ns: [...], lost, non2xx}.
import net from 'node:net';

const spec = JSON.parse(process.argv[2]);
const host = spec.ip.includes(':') ? `[${spec.ip}]:${spec.port}` : `${spec.ip}:${spec.port}`;
const request = Buffer.from(`GET ${spec.path ?? '/'} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
const ns = [];
let lost = 0;
let non2xx = 0;

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ host: spec.ip, port: spec.port });
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => done(null), spec.timeoutMs);
    function done(status) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(status === null ? null : { status, ns: Number(process.hrtime.bigint() - t0) });
    }
    sock.on('connect', () => sock.write(request));
    sock.on('error', () => done(null));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
      if (Number.isFinite(len) && buf.length - end - 4 < len) return;
      done(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0));
    });
    sock.on('close', () => done(null));
  });
}

for (let i = 0; i < spec.warmup + spec.requests; i++) {
  const r = await once();
  if (i < spec.warmup) continue;
  if (r === null) lost++;
  else if (r.status < 200 || r.status >= 300) non2xx++;
  else ns.push(r.ns);
  if (lost + non2xx > 50 && ns.length === 0) {
    process.stderr.write(`http-crr: first ${lost + non2xx} requests to ${host} failed (${non2xx} non-2xx)\n`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify({ ns, lost, non2xx }));
process.exit(0);
