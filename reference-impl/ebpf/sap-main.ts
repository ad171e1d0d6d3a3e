// SaP with the kernel data path: `tsx reference-impl/ebpf/sap-main.ts --api SOCK --bpf-dir /sys/fs/bpf/PREFIX…`.
// The same control API and config as sap/main.ts (../CONTRACT.md); packets never reach this process: it loads
// sap.bpf.o, attaches it to the tc ingress hook of every interface of its namespace and renders each config
// version into the maps (maps.ts). /status reads the per-CPU counters.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs, serveApi } from '../sap/api.ts';
import { SAP_COUNTERS, type SapConfig, parseSapConfig } from '../sap/config.ts';
import { nameCounters } from './counters.ts';
import { BpfObject, interfaces } from './loader.ts';
import { sapEntries, u32le } from './maps.ts';

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

// Several SaPs may share a namespace (a cluster's gateways in the router): each takes its own filter priorities,
// from the process number in its pin directory name, and passes on what is not addressed to it. On the interface
// that holds its listen address a SaP runs first (its one program at a head priority, told so by head_if), so a
// packet it re-addresses to another SaP of the namespace (a gateway-to-gateway hop) can be left to the filters
// after it in the same pass instead of going round through ingress again; sap_catch, last on that interface,
// re-injects what no later filter took. A packet from a cluster's nodes enters the router on that cluster's interface,
// addressed to that cluster's gateway: the one head filter there.
const n = Number(/(\d+)$/.exec(args['bpf-dir'])?.[1] ?? 0) % 0x4000;
const HEAD_PRIO = 1 + n;
const PRIO = 0x4000 + n;
const CATCH_PRIO = 0x8000 + n;
let headDev: string | undefined;
/** The ifindexes written into peer_devs (a removed pod's veth must leave it). */
let peerDevs = new Set<number>();

function detach(dev: string, prio: number): void {
  try {
    execFileSync('tc', ['filter', 'del', 'dev', dev, 'ingress', 'prio', String(prio)], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

function attachAll(o: BpfObject, listenIp?: string): void {
  // New pods add veths to the node between versions: attach to whatever is there now.
  const all = interfaces();
  for (const i of all) if (!o.isAttached(i.name)) o.attach(i.name, 'ingress', 'sap_ingress', PRIO);
  // Pod links (veths into other namespaces): packets for local agents there go straight to the pod's side.
  // TB_EBPF_REDIRECT_PEER=0 (a measurement knob: bench/overlay-ebpf-paths.ts) keeps the plain redirect.
  const peers = new Set(
    all.filter((i) => i.peerNs && process.env.TB_EBPF_REDIRECT_PEER !== '0').map((i) => i.ifindex),
  );
  const gone = [...peerDevs].filter((x) => !peers.has(x));
  o.remove(
    'peer_devs',
    gone.map((x) => u32le(x)),
  );
  o.put(
    'peer_devs',
    [...peers].map((x) => u32le(x)),
    [...peers].map(() => u32le(1)),
  );
  peerDevs = peers;
  const own = listenIp === undefined ? undefined : all.find((i) => i.addrs.includes(listenIp))?.name;
  if (own === headDev) return;
  // No head while the filters move: a head hand-over where no sap_catch follows would reach the stack. Without
  // a head, a hand-over goes round through ingress once more (slower, never lost).
  setHead(o, 0);
  if (headDev !== undefined) {
    o.attach(headDev, 'ingress', 'sap_ingress', PRIO);
    detach(headDev, HEAD_PRIO);
    detach(headDev, CATCH_PRIO);
  }
  if (own !== undefined) {
    o.attach(own, 'ingress', 'sap_ingress', HEAD_PRIO);
    o.attach(own, 'ingress', 'sap_catch', CATCH_PRIO);
    detach(own, PRIO);
    setHead(o, all.find((i) => i.name === own)!.ifindex);
  }
  headDev = own;
}

function setHead(o: BpfObject, ifindex: number): void {
  o.put('head_if', [u32le(0)], [u32le(ifindex)]);
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
    // Listing interfaces spawns `ip` (milliseconds): only the first version, or one with other local agents,
    // can come with new veths, so a policy-only change skips it.
    if (!cfg || localAgents(next) !== localAgents(cfg)) attachAll(o, next.listen.ip);
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
