// RR latency worker, run inside the source host: one connection (TCP) or one socket (UDP), `warmup` + `requests`
// request/response round trips back to back, each timed with process.hrtime.bigint(). Prints JSON
// {ns: [...], lost}: the raw per-request latencies (warm-up already dropped), so the harness builds the
// histogram with the project's one histogram shape (src/measure/histogram.ts).
// argv[2] = JSON {ip, port, protocol: 'TCP'|'UDP', requests, warmup, payloadBytes, timeoutMs}.
import net from 'node:net';
import dgram from 'node:dgram';

const spec = JSON.parse(process.argv[2]);
const payload = Buffer.alloc(Math.max(2, spec.payloadBytes ?? 64), 0x61); // never the 1-byte identity request
const total = spec.warmup + spec.requests;
const ns = [];
let lost = 0;

function finish() {
  process.stdout.write(JSON.stringify({ ns, lost }));
  process.exit(0);
}

async function tcp() {
  const sock = net.connect({ host: spec.ip, port: spec.port });
  sock.setNoDelay(true);
  let waiting = null;
  let buf = Buffer.alloc(0);
  let bannerSeen = false;
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (!bannerSeen) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      buf = buf.subarray(nl + 1);
      bannerSeen = true;
      waiting?.();
      return;
    }
    if (buf.length >= payload.length) {
      buf = buf.subarray(payload.length);
      waiting?.();
    }
  });
  const fail = (e) => {
    process.stderr.write(`rr tcp: ${e.message ?? e}\n`);
    process.exit(1);
  };
  sock.on('error', fail);
  const timer = setTimeout(() => fail('connect/banner timeout'), spec.timeoutMs);
  await new Promise((res) => (waiting = res));
  clearTimeout(timer);
  for (let i = 0; i < total; i++) {
    const t0 = process.hrtime.bigint();
    const got = new Promise((res) => (waiting = res));
    sock.write(payload);
    await got;
    if (i >= spec.warmup) ns.push(Number(process.hrtime.bigint() - t0));
  }
  sock.destroy();
}

async function udp() {
  const sock = dgram.createSocket(net.isIPv6(spec.ip) ? 'udp6' : 'udp4');
  await new Promise((res) => sock.connect(spec.port, spec.ip, res));
  let waiting = null;
  sock.on('message', () => waiting?.(true));
  sock.on('error', () => waiting?.(false));
  for (let i = 0; i < total; i++) {
    const t0 = process.hrtime.bigint();
    let timer;
    const got = new Promise((res) => {
      waiting = res;
      timer = setTimeout(() => res(false), spec.timeoutMs);
    });
    sock.send(payload);
    const ok = await got;
    clearTimeout(timer);
    waiting = null;
    if (!ok) lost++;
    else if (i >= spec.warmup) ns.push(Number(process.hrtime.bigint() - t0));
  }
  sock.close();
}

await (spec.protocol === 'TCP' ? tcp() : udp());
finish();
