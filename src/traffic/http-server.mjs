// Minimal keep-alive HTTP server for the autocannon workload. argv[2] = JSON {port, bodyBytes}. Prints "ready".
import http from 'node:http';

const spec = JSON.parse(process.argv[2]);
const body = Buffer.alloc(spec.bodyBytes ?? 64, 0x61);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen({ port: spec.port, host: '::', ipv6Only: false }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
