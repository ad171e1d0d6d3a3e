// Agent with the kernel data path: `tsx reference-impl/ebpf/agent-main.ts --api SOCK --bpf-dir /sys/fs/bpf/…`,
// run in the pod's namespace. Same control API and config as agent/main.ts (../CONTRACT.md). Instead of a TUN,
// the overlay address goes on `lo` and the overlay prefix is routed out of the underlay interface (with an MTU
// that leaves room for the GUE overhead), where agent.bpf.o encapsulates on tc egress and decapsulates on tc
// ingress. The pod guard (agent/guard.ts) admits what the ingress program unwrapped by its mark.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { AGENT_COUNTERS, type AgentConfig, parseAgentConfig } from '../agent/config.ts';
import { GUARD_TABLE, installGuard, removeGuard } from '../agent/guard.ts';
import { defaultMtu } from '../agent/setup.ts';
import { ConflictError, parseArgs, serveApi } from '../sap/api.ts';
import { nameCounters } from './counters.ts';
import { BpfObject, interfaces } from './loader.ts';
import { agentEntries } from './maps.ts';

/** Mark the ingress program sets on decapsulated packets (OV_DECAP_MARK in common.h). */
export const DECAP_MARK = 0x6080;

const args = parseArgs(process.argv.slice(2), ['api', 'lifeline', 'bpf-dir', 'offload']);
// --offload off: full inner checksums and no TSO on the pod interface. Needed when user-space agents are peers:
// they cannot take the partial checksums a kernel sender leaves for the (virtual) NIC (README, "overlay-ebpf").
const offload = (args.offload ?? 'on') !== 'off';
if (!args.api || !args['bpf-dir']) {
  process.stderr.write('usage: ebpf/agent-main.ts --api SOCKET --bpf-dir /sys/fs/bpf/NAME\n');
  process.exit(2);
}

let cfg: AgentConfig | undefined;
let dev = '';
let route: string[] = [];

function ip(...a: string[]): string {
  return execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * `ethtool -K DEV tx off` without ethtool (not installed everywhere): the legacy SIOCETHTOOL ioctl with
 * ETHTOOL_STXCSUM, from Python (present wherever Mininet is). TSO, which needs checksum offload, goes with it.
 */
function txChecksumOff(name: string): void {
  const py = [
    'import array, fcntl, socket, struct, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    'v = array.array("I", [0x17, 0])',
    'fcntl.ioctl(s.fileno(), 0x8946, struct.pack("16sP", sys.argv[1].encode(), v.buffer_info()[0]))',
  ].join('\n');
  execFileSync('/usr/bin/python3', ['-c', py, name], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The overlay route: via the next hop toward the SaP, so the inner packet's L2 header is already right. */
function overlayRoute(c: AgentConfig, mtu: number): string[] {
  const r = (JSON.parse(ip('-j', 'route', 'get', c.sap.ip)) as { gateway?: string; dev: string }[])[0]!;
  return [c.overlayCidr, 'via', r.gateway ?? c.sap.ip, 'dev', r.dev, 'src', c.overlayIp, 'mtu', String(mtu)];
}

async function apply(body: unknown): Promise<void> {
  const next = parseAgentConfig(body);
  if (next.authMode === 'mac')
    throw new Error('authMode mac is not supported by the eBPF data path (no HMAC in BPF): use mode overlay');
  if (cfg && (next.overlayIp !== cfg.overlayIp || next.overlayCidr !== cfg.overlayCidr))
    throw new ConflictError('overlayIp/overlayCidr changed');
  if (cfg && (next.listen.ip !== cfg.listen.ip || next.listen.port !== cfg.listen.port))
    throw new ConflictError('listen changed');
  const keyLen = next.keys.find((k) => k.epoch === next.sendEpoch)!.key.length / 2;
  const mtu = next.mtu ?? defaultMtu(keyLen);
  if (!dev) {
    const i = interfaces().find((x) => x.addrs.includes(next.listen.ip));
    if (!i) throw new Error(`no interface holds the listen address ${next.listen.ip}`);
    const o = obj;
    o.program(agentEntries(next, o.nextSlot()), next.version);
    // A GSO super-packet plus the outer headers must stay within the 64 KB IP limit.
    ip('link', 'set', 'dev', i.name, 'gso_max_size', '65000');
    if (!offload) txChecksumOff(i.name);
    if (!o.isAttached(i.name)) {
      o.attach(i.name, 'ingress', 'agent_ingress');
      o.attach(i.name, 'egress', 'agent_egress');
    }
    ip('addr', 'replace', `${next.overlayIp}/32`, 'dev', 'lo');
    route = overlayRoute(next, mtu);
    ip('route', 'replace', ...route);
    dev = i.name;
  } else {
    obj.program(agentEntries(next, obj.nextSlot()), next.version);
    const r = overlayRoute(next, mtu);
    if (r.join(' ') !== route.join(' ')) ip('route', 'replace', ...(route = r));
  }
  const saps = [next.sap, ...next.acceptFrom];
  if (next.guard)
    await installGuard({
      tun: 'lo',
      agentPort: next.listen.port,
      saps,
      acceptMark: DECAP_MARK,
      notrack: { mark: DECAP_MARK, overlayCidrs: [next.overlayCidr] },
    });
  else await removeGuard();
  cfg = next;
}

// Load and attach before answering (the verifier and tc take long on a loaded machine; a config push must stay
// within the control plane's timeout). Without a config both programs pass everything.
const obj = new BpfObject('agent', args['bpf-dir']!);
try {
  for (const i of interfaces()) {
    obj.attach(i.name, 'ingress', 'agent_ingress');
    obj.attach(i.name, 'egress', 'agent_egress');
  }
} catch (e) {
  obj.close();
  throw e;
}

const server = await serveApi(args.api, {
  version: () => cfg?.version ?? 0,
  counters: () => nameCounters(obj.counters(), AGENT_COUNTERS),
  apply,
});

function shutdown(code = 0): void {
  const quiet = (f: () => void) => {
    try {
      f();
    } catch {
      // already gone
    }
  };
  if (cfg?.guard)
    quiet(() => execFileSync('nft', ['delete', 'table', 'inet', GUARD_TABLE], { stdio: 'ignore' }));
  if (route.length) quiet(() => ip('route', 'del', ...route.slice(0, 1)));
  if (cfg) quiet(() => ip('addr', 'del', `${cfg!.overlayIp}/32`, 'dev', 'lo'));
  obj.close();
  void dev;
  server.close();
  server.closeAllConnections();
  rmSync(args.api!, { force: true });
  process.exit(code);
}
process.on('SIGTERM', () => shutdown());
process.on('SIGINT', () => shutdown());
if (args.lifeline === 'stdin') {
  process.stdin.on('end', () => shutdown());
  process.stdin.on('error', () => shutdown());
  process.stdin.resume();
}
