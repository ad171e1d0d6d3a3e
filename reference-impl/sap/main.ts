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
let sock: dgram.Socket | undefined;
let bound = '';

function onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
  if (!engine || !sock) return;
  // Nothing a packet carries may take the process down: an unforeseen throw is counted, the packet dropped.
  try {
    if (engine.process(msg, msg.length, rinfo.address, rinfo.port, performance.now(), out)) {
      if (delayMs > 0) for (const until = performance.now() + delayMs; performance.now() < until;);
      sock.send(out.buf, out.off, out.len, out.port, out.ip);
    }
  } catch {
    counters.internalError = (counters.internalError ?? 0) + 1;
  }
}

async function bind(cfg: SapConfig): Promise<void> {
  const key = `${cfg.listen.ip}:${cfg.listen.port}`;
  if (key === bound) return;
  const s = dgram.createSocket({
    type: 'udp4',
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
    lookup: literalLookup,
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(cfg.listen.port, cfg.listen.ip, () => {
      s.off('error', reject);
      resolve();
    });
  });
  s.on('error', () => counters.txError!++);
  s.on('message', onMessage);
  sock?.close();
  sock = s;
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
  sock?.close();
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
