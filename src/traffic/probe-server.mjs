// Probe server for one host (plain Node, no TypeScript loader: with dozens of pods, start-up time matters).
// argv[2] = JSON {id, tcp: number[], udp: number[], http?: number[]}. Every TCP connection first receives
// `id\n`, then its bytes are echoed; an HTTP port answers every request 200 with `x-testbed-id: id` and the body
// `id\n` (keep-alive; the request body is drained); a UDP datagram "?" is answered with `id`, any other datagram is echoed. So a probe can
// tell that it reached the right pod, and the RR probe can use the same servers.
// The server doubles as the host's probe agent: each JSON line on stdin {seq, timeoutMs, udpTries,
// concurrency, targets} is answered by one line {seq, results} on stdout, so probing spawns no processes.
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { probeAll } from './probe-lib.mjs';

const spec = JSON.parse(process.argv[2]);
const banner = Buffer.from(`${spec.id}\n`);
const servers = [];

function listenTcp(port) {
  return new Promise((resolve, reject) => {
    const s = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('error', () => undefined);
      sock.write(banner);
      sock.on('data', (d) => sock.write(d));
    });
    s.once('error', reject);
    // `::` with ipv6Only off takes both families (IPv4 peers appear as ::ffff:a.b.c.d).
    s.listen({ port, host: '::', ipv6Only: false, backlog: 1024 }, () => resolve(s));
    servers.push(s);
  });
}

function listenHttp(port) {
  return new Promise((resolve, reject) => {
    const s = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': banner.length,
        'x-testbed-id': spec.id,
      });
      res.end(banner);
    });
    s.keepAliveTimeout = 60_000;
    s.once('error', reject);
    s.listen({ port, host: '0.0.0.0', backlog: 1024 }, () => resolve(s));
    servers.push(s);
  });
}

function listenUdp(port) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.on('message', (msg, rinfo) => {
      const reply = msg.length === 1 && msg[0] === 0x3f ? Buffer.from(spec.id) : msg;
      s.send(reply, rinfo.port, rinfo.address);
    });
    s.once('error', reject);
    s.bind(port, '::', () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    servers.push(s);
  });
}

try {
  await Promise.all([
    ...spec.tcp.map(listenTcp),
    ...(spec.http ?? []).map(listenHttp),
    ...spec.udp.map(listenUdp),
  ]);
  process.stdout.write('ready\n');
} catch (e) {
  process.stderr.write(`probe server ${spec.id}: ${e.message}\n`);
  process.exit(1);
}
createInterface({ input: process.stdin }).on('line', async (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return; // not a request; never crash the server over it
  }
  const results = await probeAll(req);
  process.stdout.write(`${JSON.stringify({ seq: req.seq, results })}\n`);
});
// The harness closing our stdin means it is gone: stop serving.
process.stdin.on('end', () => process.exit(0));
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
