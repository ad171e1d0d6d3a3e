// Agent with the kernel data path: `tsx reference-impl/ebpf/agent-main.ts --api SOCK --bpf-dir /sys/fs/bpf/…`,
// run in the pod's namespace. Same control API and config as agent/main.ts (../CONTRACT.md). Instead of a TUN,
// the overlay address goes on `lo` and the overlay prefix is routed out of the underlay interface (with an MTU
// that leaves room for the GUE overhead), where agent.bpf.o encapsulates on tc egress and decapsulates on tc
// ingress. The same two programs are the pod guard (config `guard`; guard.h): no nftables table, whose hooks
// would cost every packet of the pod, overlay ones included.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { AGENT_COUNTERS, type AgentConfig, parseAgentConfig } from '../agent/config.ts';
import { defaultMtu } from '../agent/setup.ts';
import { canonicalIp } from '../control-plane/addressing6.ts';
import { ConflictError, parseArgs, serveApi } from '../sap/api.ts';
import { nameCounters } from './counters.ts';
import { BpfObject, interfaces } from './loader.ts';
import { agentEntries } from './maps.ts';

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
let routes: string[][] = [];
/** Set once the placeholder neighbour for the IPv6 overlay route exists (removed at exit). */
let placeholder = false;
let cfgMtu = 0;

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

const isV6 = (a: string) => a.includes(':');

/** The interface holding the listen address (either family; addresses compared in canonical form). */
function deviceOf(addr: string): string | undefined {
  const want = canonicalIp(addr);
  const links = JSON.parse(ip('-j', 'addr', 'show')) as {
    ifname: string;
    addr_info?: { local: string }[];
  }[];
  return links.find((l) => (l.addr_info ?? []).some((a) => canonicalIp(a.local) === want))?.ifname;
}

/**
 * Placeholder next hop of the IPv6 overlay route on an IPv4 underlay: IPv6 routes cannot name an IPv4
 * gateway, so the route names this link-local one (a permanent neighbour, so no solicitation goes out) and the
 * egress program, having wrapped the packet in IPv4, lets the kernel resolve the real next hop
 * (bpf_redirect_neigh).
 */
const PLACEHOLDER_GW6 = 'fe80::6080';

/**
 * The overlay routes (`ip` argument lists, `-6` first for IPv6): via the next hop toward the SaP over the
 * underlay's family, so the inner packet's L2 header is already right (IPv4 over an IPv6 underlay: `via inet6`).
 */
function overlayRoutes(c: AgentConfig, mtu: number): string[][] {
  const u6 = isV6(c.sap.ip);
  const r = (
    JSON.parse(ip(...(u6 ? ['-6'] : []), '-j', 'route', 'get', c.sap.ip)) as {
      gateway?: string;
      dev: string;
    }[]
  )[0]!;
  const gw = r.gateway ?? c.sap.ip;
  const out = [
    [
      c.overlayCidr,
      'via',
      ...(u6 ? ['inet6', gw] : [gw]),
      'dev',
      r.dev,
      'src',
      c.overlayIp,
      'mtu',
      String(mtu),
    ],
  ];
  if (c.overlayIp6 && c.overlayCidr6)
    out.push([
      '-6',
      c.overlayCidr6,
      'via',
      u6 ? gw : PLACEHOLDER_GW6,
      'dev',
      r.dev,
      'src',
      c.overlayIp6,
      'mtu',
      String(mtu),
    ]);
  return out;
}

/** `ip route replace` / `ip route del` for one of overlayRoutes' argument lists. */
function routeCmd(verb: 'replace' | 'del', r: string[]): string[] {
  return r[0] === '-6' ? ['-6', 'route', verb, ...r.slice(1)] : ['route', verb, ...r];
}

async function apply(body: unknown): Promise<void> {
  const next = parseAgentConfig(body);
  if (next.authMode === 'mac')
    throw new Error('authMode mac is not supported by the eBPF data path (no HMAC in BPF): use mode overlay');
  if (
    cfg &&
    (next.overlayIp !== cfg.overlayIp ||
      next.overlayCidr !== cfg.overlayCidr ||
      next.overlayIp6 !== cfg.overlayIp6 ||
      next.overlayCidr6 !== cfg.overlayCidr6)
  )
    throw new ConflictError('overlayIp/overlayCidr changed');
  if (cfg && (next.listen.ip !== cfg.listen.ip || next.listen.port !== cfg.listen.port))
    throw new ConflictError('listen changed');
  const keyLen = next.keys.find((k) => k.epoch === next.sendEpoch)!.key.length / 2;
  const mtu = next.mtu ?? defaultMtu(keyLen, 1500, isV6(next.listen.ip));
  if (!dev) {
    const name = deviceOf(next.listen.ip);
    if (!name) throw new Error(`no interface holds the listen address ${next.listen.ip}`);
    const o = obj;
    o.program(agentEntries(next, o.nextSlot()), next.version);
    // A GSO super-packet plus the outer headers must stay within the 64 KB IP limit.
    ip('link', 'set', 'dev', name, 'gso_max_size', '65000');
    if (!offload) txChecksumOff(name);
    if (!o.isAttached(name)) {
      o.attach(name, 'ingress', 'agent_ingress');
      o.attach(name, 'egress', 'agent_egress');
    }
    ip('addr', 'replace', `${next.overlayIp}/32`, 'dev', 'lo');
    if (next.overlayIp6) ip('-6', 'addr', 'replace', `${next.overlayIp6}/128`, 'dev', 'lo', 'nodad');
    if (next.overlayIp6 && !isV6(next.sap.ip)) {
      const mac = (JSON.parse(ip('-j', 'link', 'show', 'dev', name)) as { address: string }[])[0]!.address;
      ip('-6', 'neigh', 'replace', PLACEHOLDER_GW6, 'lladdr', mac, 'dev', name, 'nud', 'permanent');
      placeholder = true;
    }
    routes = overlayRoutes(next, mtu);
    for (const r of routes) ip(...routeCmd('replace', r));
    dev = name;
  } else {
    obj.program(agentEntries(next, obj.nextSlot()), next.version);
    // `ip route get` and `nft` are process spawns (milliseconds each): a version that changes only keys or
    // epochs (a rotation phase) keeps the routes and the guard, so they are redone only when their inputs move.
    if (next.sap.ip !== cfg!.sap.ip || mtu !== cfgMtu) {
      const rs = overlayRoutes(next, mtu);
      if (JSON.stringify(rs) !== JSON.stringify(routes))
        for (const r of (routes = rs)) ip(...routeCmd('replace', r));
    }
  }
  cfg = next;
  cfgMtu = mtu;
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
  for (const r of routes) quiet(() => ip(...routeCmd('del', r.slice(0, r[0] === '-6' ? 2 : 1))));
  if (placeholder) quiet(() => ip('-6', 'neigh', 'del', PLACEHOLDER_GW6, 'dev', dev));
  if (cfg) quiet(() => ip('addr', 'del', `${cfg!.overlayIp}/32`, 'dev', 'lo'));
  if (cfg?.overlayIp6) quiet(() => ip('-6', 'addr', 'del', `${cfg!.overlayIp6}/128`, 'dev', 'lo'));
  obj.close();
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
