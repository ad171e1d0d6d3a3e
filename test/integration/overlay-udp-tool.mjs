// Small UDP tool run inside Mininet hosts by the overlay integration tests (plain Node, no tsx: starts fast).
//   sink PORT             print "ready", then one line "rx <len> <from>" per datagram received
//   echo PORT             print "ready", echo every datagram back
//   send JSON             {ip, port, hex: [...], bindPort?} send each hex datagram, print {"sent": n}
//   flood JSON            {ip, port, hex: [...], count, bindPort?} send `count` datagrams cycling through hex
//   stream JSON           {ip, port, rate, ms} send sequence-numbered datagrams at `rate`/s for `ms`, count
//                         echoes (grace 500 ms after the last), print {"sent", "received", "lost": [seq...]}
//   tcp JSON              {ip, port, timeoutMs} connect, print {"ok": true|false, "error"?}
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, arg] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${typeof o === 'string' ? o : JSON.stringify(o)}\n`);

// Large receive buffers: a CPU stall of the tool itself must not show up as overlay loss.
// IPv6 sockets take IPv4 too (ipv6Only off), so a sink hears both families; a sender picks by address.
const udp = (ip) =>
  ip && !ip.includes(':')
    ? dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 })
    : dgram.createSocket({ type: 'udp6', ipv6Only: false, recvBufferSize: 8 << 20 });

if (mode === 'sink' || mode === 'echo') {
  const s = udp();
  s.on('message', (m, r) => {
    if (mode === 'sink') out(`rx ${m.length} ${r.address}`);
    else s.send(m, r.port, r.address);
  });
  s.bind(Number(arg), () => out('ready'));
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'send') {
  const o = JSON.parse(arg);
  const s = dgram.createSocket(o.ip.includes(':') ? 'udp6' : 'udp4');
  s.bind(o.bindPort ?? 0, async () => {
    for (const h of o.hex) await new Promise((r) => s.send(Buffer.from(h, 'hex'), o.port, o.ip, r));
    out({ sent: o.hex.length });
    s.close();
  });
} else if (mode === 'flood') {
  const o = JSON.parse(arg);
  const s = dgram.createSocket({ type: o.ip.includes(':') ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
  const bufs = o.hex.map((h) => Buffer.from(h, 'hex'));
  s.bind(o.bindPort ?? 0, async () => {
    let errors = 0;
    for (let i = 0; i < o.count; i++)
      await new Promise((r) => s.send(bufs[i % bufs.length], o.port, o.ip, (e) => r(e && errors++)));
    out({ sent: o.count, errors });
    s.close();
  });
} else if (mode === 'stream') {
  const o = JSON.parse(arg);
  const s = udp(o.ip);
  const seen = new Set();
  let sent = 0;
  s.on('message', (m) => seen.add(m.readUInt32BE(0)));
  s.bind(0, () => {
    const t0 = Date.now();
    const timer = setInterval(() => {
      const due = Math.min(
        Math.floor(((Date.now() - t0) * o.rate) / 1000),
        Math.floor((o.ms * o.rate) / 1000),
      );
      while (sent < due) {
        // One buffer per datagram: send() is asynchronous and must not see the next sequence number.
        const buf = Buffer.alloc(64);
        buf.writeUInt32BE(sent++, 0);
        s.send(buf, o.port, o.ip);
      }
      if (Date.now() - t0 >= o.ms) {
        clearInterval(timer);
        setTimeout(() => {
          const lost = [];
          for (let i = 0; i < sent; i++) if (!seen.has(i)) lost.push(i);
          out({ sent, received: seen.size, lost });
          s.close();
        }, 500);
      }
    }, 2);
  });
} else if (mode === 'tcp') {
  const o = JSON.parse(arg);
  const c = net.connect({ host: o.ip, port: o.port });
  const t = setTimeout(() => {
    c.destroy();
    out({ ok: false, error: 'timeout' });
  }, o.timeoutMs ?? 1000);
  c.on('connect', () => {
    clearTimeout(t);
    c.destroy();
    out({ ok: true });
  });
  c.on('error', (e) => {
    clearTimeout(t);
    out({ ok: false, error: e.code ?? e.message });
  });
} else {
  process.stderr.write('usage: overlay-udp-tool.mjs sink|echo PORT | send|stream|tcp JSON\n');
  process.exit(2);
}
