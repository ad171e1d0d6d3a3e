// Stand-alone Proxy process: `tsx reference-impl/sap/main.ts --api /path/to.sock` (../CONTRACT.md).
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { literalLookup, parseArgs, serveApi } from './api.ts';
import { SAP_COUNTERS, type SapConfig, parseSapConfig } from './config.ts';
import { Forward, MacState, SapEngine, type Counters } from './engine.ts';
import { FlowCache } from './flowcache.ts';

const args = parseArgs(process.argv.slice(2), ['api', 'lifeline']);
if (!args.api) {
  process.stderr.write('usage: sap/main.ts --api SOCKET\n');
  process.exit(2);
}

// Test knob TB_SAP_DELAY_US (off by default; src/measure/test-knobs.ts in the harness records it): a fixed busy-wait
// per forwarded packet, so the harness's regression check can be shown to catch a known slowdown. A busy-wait,
// because a timer cannot wait less than about a millisecond; it also costs CPU, like real extra work would.
const delayText = process.env.TB_SAP_DELAY_US?.trim() ?? '';
if (delayText !== '' && !/^\d+(\.\d+)?$/.test(delayText)) {
  process.stderr.write(`sap: TB_SAP_DELAY_US='${delayText}': expected a non-negative number of µs\n`);
  process.exit(2);
}
const delayMs = delayText === '' ? 0 : Number(delayText) / 1000;

const counters: Counters = Object.fromEntries(SAP_COUNTERS.map((n) => [n, 0]));
const cache = new FlowCache();
const out = new Forward();
const macState = new MacState();
let engine: SapEngine | undefined;
/** One socket per underlay family (IPv4, IPv6); `listen6` adds the second one. */
let sock4: dgram.Socket | undefined;
let sock6: dgram.Socket | undefined;
let bound = '';
let boundSocks = new Map<string, dgram.Socket>();

function onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
  if (!engine) return;
  // Nothing a packet carries may take the process down: an unforeseen throw is counted, the packet dropped.
  try {
    if (engine.process(msg, msg.length, rinfo.address, rinfo.port, performance.now(), out)) {
      if (delayMs > 0) for (const until = performance.now() + delayMs; performance.now() < until;);
      const s = out.ip.includes(':') ? sock6 : sock4;
      if (s) s.send(out.buf, out.off, out.len, out.port, out.ip);
      else counters.txError!++;
    }
  } catch {
    counters.internalError = (counters.internalError ?? 0) + 1;
  }
}

async function open(addr: { ip: string; port: number }): Promise<dgram.Socket> {
  const s = dgram.createSocket({
    type: addr.ip.includes(':') ? 'udp6' : 'udp4',
    // IPv6 sockets stay IPv6 only (an IPv4 socket takes no such option: EINVAL on bind).
    ...(addr.ip.includes(':') ? { ipv6Only: true } : {}),
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
    lookup: literalLookup,
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(addr.port, addr.ip, () => {
      s.off('error', reject);
      resolve();
    });
  });
  s.on('error', () => counters.txError!++);
  s.on('message', onMessage);
  return s;
}

async function bind(cfg: SapConfig): Promise<void> {
  const addrs = [cfg.listen, ...(cfg.listen6 ? [cfg.listen6] : [])];
  const key = addrs.map((a) => `${a.ip}:${a.port}`).join(',');
  if (key === bound) return;
  // A socket whose address is unchanged is kept (rebinding it would collide with itself).
  const keep = new Map<string, dgram.Socket>();
  for (const [a, s] of boundSocks) if (addrs.some((x) => `${x.ip}:${x.port}` === a)) keep.set(a, s);
  const fresh: dgram.Socket[] = [];
  const next = new Map<string, dgram.Socket>();
  try {
    for (const a of addrs) {
      const k = `${a.ip}:${a.port}`;
      const s = keep.get(k) ?? (await open(a));
      if (!keep.has(k)) fresh.push(s);
      next.set(k, s);
    }
  } catch (e) {
    for (const s of fresh) s.close();
    throw e;
  }
  for (const [a, s] of boundSocks) if (!keep.has(a)) s.close();
  boundSocks = next;
  sock4 = addrs.filter((a) => !a.ip.includes(':')).map((a) => next.get(`${a.ip}:${a.port}`))[0];
  sock6 = addrs.filter((a) => a.ip.includes(':')).map((a) => next.get(`${a.ip}:${a.port}`))[0];
  bound = key;
}

const server = await serveApi(args.api, {
  version: () => engine?.version ?? 0,
  counters: () => ({ ...counters, flows: cache.size }),
  apply: async (body) => {
    const cfg = parseSapConfig(body);
    const next = new SapEngine(cfg, counters, cache, macState);
    await bind(cfg);
    // Decisions cached under the old rules must not outlive them.
    cache.clear();
    engine = next;
  },
});

function shutdown(): void {
  engine = undefined;
  sock4?.close();
  sock6?.close();
  server.close();
  server.closeAllConnections();
  rmSync(args.api!, { force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// --lifeline stdin: exit when the parent's pipe closes, so a crashed parent leaves no data path behind.
if (args.lifeline === 'stdin') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
