// SaP with the kernel data path: `tsx reference-impl/ebpf/sap-main.ts --api SOCK --bpf-dir /sys/fs/bpf/PREFIX…`.
// The same control API and config as sap/main.ts (../CONTRACT.md); packets never reach this process: it loads
// sap.bpf.o, attaches it to the tc ingress hook of every interface of its namespace and renders each config
// version into the maps (maps.ts). /status reads the per-CPU counters.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs, serveApi } from '../sap/api.ts';
import { SAP_COUNTERS, type SapConfig, parseSapConfig } from '../sap/config.ts';
import { nameCounters } from './counters.ts';
import { BpfObject, interfaces } from './loader.ts';
import { sapEntries } from './maps.ts';

const args = parseArgs(process.argv.slice(2), ['api', 'lifeline', 'bpf-dir']);
if (!args.api || !args['bpf-dir']) {
  process.stderr.write('usage: ebpf/sap-main.ts --api SOCKET --bpf-dir /sys/fs/bpf/NAME\n');
  process.exit(2);
}

let cfg: SapConfig | undefined;

// The programs forward with the kernel's FIB (bpf_fib_lookup), which answers only for a namespace that forwards
// IPv4. Node hosts and the router do already; elsewhere (a bare lab namespace) it is turned on for the SaP's
// lifetime and restored at exit.
const FORWARD = '/proc/sys/net/ipv4/ip_forward';
let forwardWas: string | undefined;
function ensureForwarding(): void {
  const now = readFileSync(FORWARD, 'utf8').trim();
  if (now !== '1') {
    forwardWas = now;
    writeFileSync(FORWARD, '1');
  }
}

// Several SaPs may share a namespace (a cluster's gateways in the router): each takes its own filter priority,
// from the process number in its pin directory name, and passes on what is not addressed to it.
const prio = 1 + Number(/(\d+)$/.exec(args['bpf-dir'])?.[1] ?? 0);

function attachAll(o: BpfObject): void {
  // New pods add veths to the node between versions: attach to whatever is there now.
  for (const i of interfaces()) if (!o.isAttached(i.name)) o.attach(i.name, 'ingress', 'sap_ingress', prio);
}

function localAgents(c: SapConfig): string {
  return c.endpoints
    .filter((e) => e.sap === c.sapId && e.agent)
    .map((e) => `${e.agent!.ip}:${e.agent!.port}`)
    .sort()
    .join(',');
}

// Load and attach before answering: the verifier and tc take long on a loaded machine, and a config push must
// stay within the control plane's timeout. Without a config the program passes everything.
ensureForwarding();
const obj = new BpfObject('sap', args['bpf-dir']!);
try {
  attachAll(obj);
} catch (e) {
  obj.close();
  throw e;
}

const server = await serveApi(args.api, {
  version: () => cfg?.version ?? 0,
  counters: () => nameCounters(obj.counters(), SAP_COUNTERS),
  apply: async (body) => {
    const next = parseSapConfig(body);
    if (next.authMode === 'mac')
      throw new Error(
        'authMode mac is not supported by the eBPF data path (no HMAC in BPF): use mode overlay',
      );
    const o = obj;
    o.program(sapEntries(next, o.nextSlot()), next.version);
    // Listing interfaces spawns `ip` (milliseconds): only a version with other local agents can come with new
    // veths, so a policy-only change skips it.
    if (localAgents(next) !== (cfg ? localAgents(cfg) : '')) attachAll(o);
    cfg = next;
  },
});

function shutdown(): void {
  obj.close();
  if (forwardWas !== undefined) writeFileSync(FORWARD, forwardWas);
  server.close();
  server.closeAllConnections();
  rmSync(args.api!, { force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args.lifeline === 'stdin') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
