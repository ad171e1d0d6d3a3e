// Open-loop (fixed-rate) latency worker, run inside the source host. Requests are due at t0 + i/rate whether or
// not earlier ones were answered, and latency is measured from that INTENDED send time, so a stall shows up as
// latency of every request it delayed (no coordinated omission). UDP datagrams carry a sequence number; on TCP
// the echo server answers in order, so responses are matched to requests by position.
// argv[2] = JSON {ip, port, protocol, rate, requests, warmup, payloadBytes, timeoutMs}. Prints {ns, lost, lateSends}.
import net from 'node:net';
import dgram from 'node:dgram';

const spec = JSON.parse(process.argv[2]);
const size = Math.max(8, spec.payloadBytes ?? 64);
const total = spec.warmup + spec.requests;
const intervalNs = 1e9 / spec.rate;
const intended = new Float64Array(total).fill(-1);
const answered = new Uint8Array(total);
const ns = [];
let lateSends = 0;
let t0 = 0n;

function now() {
  return Number(process.hrtime.bigint() - t0);
}

function record(seq) {
  if (seq < 0 || seq >= total || answered[seq]) return;
  answered[seq] = 1;
  if (seq >= spec.warmup) ns.push(now() - intended[seq]);
}

let send;
let close;
if (spec.protocol === 'UDP') {
  const sock = dgram.createSocket(net.isIPv6(spec.ip) ? 'udp6' : 'udp4');
  sock.on('message', (msg) => msg.length >= 4 && record(msg.readUInt32BE(0)));
  await new Promise((res) => sock.connect(spec.port, spec.ip, res));
  send = (seq) => {
    const b = Buffer.alloc(size, 0x61);
    b.writeUInt32BE(seq, 0);
    sock.send(b);
  };
  close = () => sock.close();
} else {
  const sock = net.connect({ host: spec.ip, port: spec.port });
  sock.setNoDelay(true);
  await new Promise((res, rej) => {
    sock.once('error', rej);
    let pre = Buffer.alloc(0);
    const onBanner = (d) => {
      pre = Buffer.concat([pre, d]);
      if (pre.indexOf(0x0a) < 0) return;
      sock.off('data', onBanner);
      res();
    };
    sock.on('data', onBanner);
  });
  let pending = 0;
  let next = 0;
  sock.on('data', (d) => {
    pending += d.length;
    while (pending >= size) {
      pending -= size;
      record(next++);
    }
  });
  sock.on('error', (e) => {
    process.stderr.write(`openloop tcp: ${e.message}\n`);
    process.exit(1);
  });
  send = () => sock.write(Buffer.alloc(size, 0x61));
  close = () => sock.destroy();
}

t0 = process.hrtime.bigint();
let i = 0;
await new Promise((resolve) => {
  const tick = () => {
    const t = now();
    while (i < total && i * intervalNs <= t) {
      intended[i] = i * intervalNs;
      if (t - intended[i] > intervalNs) lateSends++;
      send(i++);
    }
    if (i >= total) return resolve();
    const waitMs = (i * intervalNs - now()) / 1e6;
    // Timers are 1 ms coarse: sleep when the next send is far, spin on the event loop when it is close.
    if (waitMs > 1.5) setTimeout(tick, Math.floor(waitMs - 1));
    else setImmediate(tick);
  };
  tick();
});
await new Promise((r) => setTimeout(r, spec.timeoutMs));
close();
let lost = 0;
for (let s = spec.warmup; s < total; s++) if (!answered[s]) lost++;
process.stdout.write(JSON.stringify({ ns, lost, lateSends }));
process.exit(0);
