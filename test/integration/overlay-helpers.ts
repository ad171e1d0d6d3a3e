// Shared by the overlay integration tests: bring a scenario up on Mininet under the overlay, drive its steps,
// probe every cell through the overlay and compare with the engine; run the small UDP/TCP tool in hosts.
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { OverlayEnforcer } from '../../src/enforce/overlay.ts';
import { verdict } from '../../src/policy/engine.ts';
import type { ClusterState, Protocol } from '../../src/policy/model.ts';
import { resolveFlowPort } from '../../src/policy/ports.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import type { Network } from '../../src/platform/platform.ts';
import type { ProbeSpec } from '../../src/scenario/schema.ts';
import type { Probe } from '../../src/scenario/types.ts';
import { familiesOf } from '../../src/policy/family.ts';
import type { Scenario } from '../../src/scenario/types.ts';
import { probeReachability, type ProbeTarget } from '../../src/traffic/reachability.ts';
import { startProbeServers, type ProbeServers } from '../../src/traffic/servers.ts';

export const TOOL = fileURLToPath(new URL('./overlay-udp-tool.mjs', import.meta.url));

export interface Lab {
  net: Network;
  ov: OverlayEnforcer;
}

export async function up(
  sc: Pick<Scenario, 'topology' | 'initial'>,
  datapath: ConstructorParameters<typeof OverlayEnforcer>[1] = 'user',
  opts: ConstructorParameters<typeof OverlayEnforcer>[2] = {},
): Promise<Lab> {
  const net = await mininetPlatform.up(sc.topology, sc.initial.pods);
  const ov = new OverlayEnforcer(net, datapath, opts);
  try {
    await ov.apply(sc.initial);
  } catch (e) {
    await ov.teardown().catch(() => undefined);
    await net.down();
    throw e;
  }
  return { net, ov };
}

export async function down(lab: Lab | undefined): Promise<void> {
  if (!lab) return;
  try {
    await lab.ov.teardown();
  } finally {
    await lab.net.down();
  }
}

const podsOf = (s: ClusterState) => s.pods.map((p) => `${p.namespace}/${p.name}`);

interface Cell extends ProbeTarget {
  want: boolean;
}

/** The cells of one probe spec at a state: numeric port resolved at each destination; self and SCTP left out. */
export function cellsOf(ov: OverlayEnforcer, state: ClusterState, probe: ProbeSpec | Probe): Cell[] {
  const out: Cell[] = [];
  if (probe.protocol === 'SCTP') return out;
  // A probe of one family runs between endpoints that have an address of it, over that family.
  const family = probe.family;
  const has = (ref: string) => family === undefined || familiesOf(endpointOf(state, ref)).includes(family);
  for (const from of (probe.from ?? podsOf(state)).filter(has))
    for (const to of (probe.to ?? podsOf(state)).filter(has)) {
      if (from === to) continue;
      const dst = state.pods.find((p) => `${p.namespace}/${p.name}` === to);
      const port = resolveFlowPort(probe.port, probe.protocol as Protocol, dst);
      if (port === undefined) continue;
      const v = verdict(state, {
        from,
        to,
        port: probe.port,
        protocol: probe.protocol as Protocol,
        family,
      }).allowed;
      if (v === 'undefined') continue;
      out.push({
        from,
        to,
        port,
        protocol: probe.protocol as Protocol,
        address: ov.targetAddress(from, to, family),
        want: v,
      });
    }
  return out;
}

export async function serve(
  net: Network,
  cells: { to: string; port: number; protocol: Protocol }[],
): Promise<ProbeServers> {
  const by = new Map<string, { tcp: Set<number>; udp: Set<number> }>();
  for (const c of cells) {
    const e = by.get(c.to) ?? { tcp: new Set(), udp: new Set() };
    (c.protocol === 'UDP' ? e.udp : e.tcp).add(c.port);
    by.set(c.to, e);
  }
  return startProbeServers(
    net,
    [...by].map(([host, e]) => ({ host, tcp: [...e.tcp], udp: [...e.udp] })),
  );
}

export interface Comparison {
  cells: number;
  mismatches: string[];
  inexpressible: string[];
  /** Allowed cells that timed out once and were reached on a second, slower try (load on the machine). */
  retried: number;
}

/**
 * Probes the cells through the overlay and compares with the engine; inexpressible cells are named apart.
 * An allowed cell that timed out is probed once more with a longer timeout: a single lost SYN on a loaded
 * 2-core machine is not a verdict. A denied cell that was reached is never retried.
 */
export async function compare(lab: Lab, state: ClusterState, cells: Cell[]): Promise<Comparison> {
  const res = await probeReachability(lab.net, cells, { timeoutMs: 800 });
  const again = res.map((r, i) => i).filter((i) => cells[i]!.want && res[i]!.outcome === 'blocked');
  let retried = 0;
  if (again.length > 0) {
    const second = await probeReachability(
      lab.net,
      again.map((i) => cells[i]!),
      { timeoutMs: 3000 },
    );
    second.forEach((r, k) => {
      if (r.outcome === 'reached') retried++;
      res[again[k]!] = r;
    });
  }
  const mismatches: string[] = [];
  const inexpressible: string[] = [];
  res.forEach((r, i) => {
    const want = cells[i]!.want;
    const got = r.outcome === 'reached';
    if (want === got) return;
    const line = `${r.from} → ${r.to} ${r.port}/${r.protocol} (${r.address}): engine ${want ? 'allowed' : 'denied'}, overlay ${r.outcome} ${r.detail}`;
    const why = lab.ov.inexpressible(state, { from: r.from, to: r.to, port: r.port, protocol: r.protocol });
    (why ? inexpressible : mismatches).push(why ? `${line} — inexpressible: ${why}` : line);
  });
  return { cells: cells.length, mismatches, inexpressible, retried };
}

/** What the tool prints (fields by mode: send → sent; stream → sent, received, lost; tcp → ok, error). */
export interface ToolResult {
  sent: number;
  received: number;
  lost: number[];
  ok: boolean;
  error?: string;
}

/** Runs the tool to completion in a host and parses its last line as JSON. */
export async function tool(
  net: Network,
  host: string,
  mode: string,
  arg: unknown,
  timeoutMs = 20_000,
): Promise<ToolResult> {
  const r = await net.exec(host, [process.execPath, TOOL, mode, JSON.stringify(arg)], { timeoutMs });
  if (r.code !== 0) throw new Error(`tool ${mode} in ${host}: exit ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Starts a sink/echo in a host; resolves once it is listening. `lines` collects what it prints. */
export async function daemon(
  net: Network,
  host: string,
  mode: 'sink' | 'echo',
  port: number,
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = net.spawn(host, [process.execPath, TOOL, mode, String(port)]);
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => (l === 'ready' ? resolve() : lines.push(l)));
    child.once('exit', (c) => reject(new Error(`${mode} in ${host} exited ${c}`)));
  });
  return { child, lines };
}

function endpointOf(state: ClusterState, ref: string): { ip: string; ips?: string[] } {
  const e = ref.startsWith('ext:')
    ? state.externals.find((x) => `ext:${x.name}` === ref)
    : ref.startsWith('node:')
      ? state.nodes.find((n) => `node:${n.name}` === ref)
      : state.pods.find((p) => `${p.namespace}/${p.name}` === ref);
  if (!e) throw new Error(`unknown endpoint '${ref}'`);
  return e;
}
