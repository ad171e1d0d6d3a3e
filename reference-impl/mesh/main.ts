// The sidecar proxy of one pod: `tsx reference-impl/mesh/main.ts --api SOCK [--lifeline stdin]`, started as
// root inside the pod's network namespace. It binds its two listeners (outbound 127.0.0.1/::1:15001, inbound
// :15006) and its control API, then drops to PROXY_UID, so every connection it opens afterwards is exempt
// from the pod's redirect rules (intercept.ts) and it holds no privilege while handling traffic.
// Control API (../CONTRACT.md): PUT /config (config.ts), GET /status with counters.
import { parseArgs, serveApi } from '../sap/api.ts';
import { parseSidecarConfig, type SidecarConfig } from './config.ts';
import { Counters } from './counters.ts';
import { Inbound } from './inbound.ts';
import { INBOUND_PORT, OUTBOUND_PORT, PROXY_UID } from './intercept.ts';
import { Outbound } from './outbound.ts';
import { load as loadOriginalDst } from '../native/origdst.ts';
import type { Server } from 'node:net';

const args = parseArgs(process.argv.slice(2), ['api', 'lifeline', 'uid']);
if (!args.api) {
  process.stderr.write('usage: mesh/main.ts --api SOCKET [--lifeline stdin] [--uid N]\n');
  process.exit(2);
}

// A missing or stale addon would otherwise surface only per connection, as connects that time out: refuse to
// start instead, with the rebuild command (the harness reports a sidecar that exits before it is ready).
try {
  loadOriginalDst();
} catch (e) {
  process.stderr.write(`mesh sidecar: ${(e as Error).message}\n`);
  process.exit(1);
}

const counters = new Counters();
const inbound = new Inbound(counters);
const outbound = new Outbound(counters);
let cfg: SidecarConfig | undefined;

function listen(s: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, host, ipv6Only: false, backlog: 1024 }, () => {
      s.removeListener('error', reject);
      resolve();
    });
  });
}

try {
  // `::` with ipv6Only false takes IPv4 too; the nft redirect of locally generated connections goes to
  // 127.0.0.1 / ::1, of arriving ones to the incoming interface's address.
  await listen(outbound.server, OUTBOUND_PORT, '::');
  await listen(inbound.server, INBOUND_PORT, '::');
} catch (e) {
  process.stderr.write(`sidecar: cannot listen: ${(e as Error).message}\n`);
  process.exit(1);
}

const api = await serveApi(args.api, {
  version: () => cfg?.version ?? 0,
  counters: () => counters.snapshot(),
  apply: async (body) => {
    const next = parseSidecarConfig(body);
    inbound.configure(next);
    outbound.configure(next);
    cfg = next;
  },
});

const uid = Number(args.uid ?? PROXY_UID);
if (process.getuid?.() === 0 && uid !== 0) {
  process.setgroups?.([]);
  process.setgid?.(uid);
  process.setuid?.(uid);
}

function shutdown(): void {
  inbound.close();
  outbound.close();
  api.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args.lifeline === 'stdin') {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
