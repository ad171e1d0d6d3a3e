// Pure planning between the engine and the probes: which servers each host runs, which cells a probe tries,
// and how probe results become an observed truth table. No I/O.
import type { ClusterState, EndpointRef, IPFamily, Protocol } from '../policy/model.ts';
import { resolveFlowPort } from '../policy/ports.ts';
import type { Cell, TruthTable } from '../policy/truthtable.ts';
import type { Probe, Scenario } from '../scenario/types.ts';
import { familiesOf } from '../policy/family.ts';
import { InputError } from '../errors.ts';
import type { ProbeSpec } from '../scenario/schema.ts';
import type { ProbeResult, ProbeTarget } from './reachability.ts';
import type { ServerSpec } from './servers.ts';

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * Ports each host serves: its declared TCP/UDP ports plus every numeric port the scenario probes, so that
 * with no enforcement every probed cell is reachable (SCTP has no sockets here).
 */
export interface ServerPlan {
  /** Ports every host serves because the scenario probes or measures them. */
  tcp: number[];
  udp: number[];
  /** TCP ports some probe sends HTTP to: every host serves HTTP there (and not the banner protocol). */
  http: number[];
  forHost(ref: EndpointRef, state: ClusterState): ServerSpec;
}

export function serverPlan(scenario: Scenario): ServerPlan {
  const probed = { TCP: new Set<number>(), UDP: new Set<number>() };
  const http = new Set<number>();
  for (const st of scenario.steps)
    for (const p of st.probes) {
      if (typeof p.port !== 'number' || p.protocol === 'SCTP') continue;
      if (p.http) http.add(p.port);
      else probed[p.protocol].add(p.port);
    }
  // One server per port: a port probed both ways would answer one of them wrongly, so the file is refused.
  for (const port of http)
    if (probed.TCP.has(port))
      throw new InputError(
        scenario.file,
        'steps.probes',
        `TCP port ${port} is probed both with and without http (one server per port); use separate ports`,
      );
  for (const m of scenario.measurements) probed[m.kind === 'udp-rr' ? 'UDP' : 'TCP'].add(m.port);
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return {
    tcp: sorted(probed.TCP),
    udp: sorted(probed.UDP),
    http: sorted(http),
    forHost(ref, state) {
      const pod = state.pods.find((p) => podRef(p) === ref);
      const tcp = new Set(probed.TCP);
      const udp = new Set(probed.UDP);
      for (const cp of pod?.ports ?? []) {
        if (cp.protocol === 'TCP' && !http.has(cp.port)) tcp.add(cp.port);
        if (cp.protocol === 'UDP') udp.add(cp.port);
      }
      return { host: ref, tcp: sorted(tcp), udp: sorted(udp), ...(http.size ? { http: sorted(http) } : {}) };
    },
  };
}

/** Hosts that need a server at some point: every pod ever present plus externals/nodes used as destinations. */
export function serverHosts(scenario: Scenario, state: ClusterState): EndpointRef[] {
  const hosts = new Set(state.pods.map(podRef));
  for (const st of scenario.steps)
    for (const p of st.probes) for (const t of p.to ?? []) if (!t.includes('/')) hosts.add(t);
  return [...hosts];
}

export interface ProbeCells {
  from: EndpointRef[];
  to: EndpointRef[];
  targets: ProbeTarget[];
  /** Cells not probed: `unsupported` protocol, or a named port the destination does not declare. */
  skipped: { from: EndpointRef; to: EndpointRef; why: string }[];
}

export function probeCells(
  state: ClusterState,
  probe: ProbeSpec | Probe,
  address: (from: EndpointRef, to: EndpointRef, family?: IPFamily) => string,
  unsupported: readonly string[],
): ProbeCells {
  const pods = state.pods.map(podRef);
  // A probe of one family runs only between endpoints that have an address of it (as the engine's table).
  const family = probe.family;
  const has = (r: EndpointRef) =>
    family === undefined || familiesOf(endpointAddresses(state, r)).includes(family);
  const from = (probe.from ?? pods).filter(has);
  const to = (probe.to ?? pods).filter(has);
  const targets: ProbeTarget[] = [];
  const skipped: ProbeCells['skipped'] = [];
  for (const f of from)
    for (const t of to) {
      if (f === t) continue;
      if (unsupported.includes(probe.protocol)) {
        skipped.push({ from: f, to: t, why: `${probe.protocol} unsupported on this kernel` });
        continue;
      }
      const dst = state.pods.find((p) => podRef(p) === t);
      const port = resolveFlowPort(probe.port, probe.protocol, dst);
      if (port === undefined) {
        skipped.push({ from: f, to: t, why: `named port '${probe.port}' not declared by ${t}` });
        continue;
      }
      targets.push({
        from: f,
        to: t,
        address: address(f, t, family),
        port,
        protocol: probe.protocol as Protocol,
        ...(probe.http ? { http: probe.http } : {}),
      });
    }
  return { from, to, targets, skipped };
}

/**
 * The observed table: `.` reached the right server, `7` a proxy answered instead (HTTP 403/400, or a TCP
 * connection accepted and closed without the app's banner: denied at L7), `X` no connection (denied at L3, or a
 * wrong peer), `-` itself or not probed.
 */
export function observedTable(
  cells: ProbeCells,
  probe: ProbeSpec | Probe,
  results: ProbeResult[],
): TruthTable {
  const byCell = new Map(results.map((r) => [`${r.from}\u0000${r.to}`, r]));
  const skipped = new Map(cells.skipped.map((s) => [`${s.from}\u0000${s.to}`, s.why]));
  const table: Cell[][] = cells.from.map((f) =>
    cells.to.map((t): Cell => {
      const r = byCell.get(`${f}\u0000${t}`);
      if (!r || r.outcome === 'unsupported') return '-';
      if (r.outcome === 'error') return 'E';
      if (r.outcome === 'denied-l7') return '7';
      return r.outcome === 'reached' ? '.' : 'X';
    }),
  );
  return {
    kind: 'combined',
    port: probe.port,
    protocol: probe.protocol,
    ...(probe.family ? { family: probe.family } : {}),
    from: cells.from,
    to: cells.to,
    cells: table,
    reason: (f, t) => {
      const r = byCell.get(`${f}\u0000${t}`);
      if (r) return `probe ${r.outcome} (${r.detail}, ${r.address}:${r.port}, ${Math.round(r.us / 1000)} ms)`;
      return skipped.get(`${f}\u0000${t}`) ?? 'not probed';
    },
  };
}

/** What mode `none` must show: every cell allowed. */
export function allAllowedTable(
  from: EndpointRef[],
  to: EndpointRef[],
  probe: ProbeSpec | Probe,
): TruthTable {
  return {
    kind: 'combined',
    port: probe.port,
    protocol: probe.protocol,
    ...(probe.family ? { family: probe.family } : {}),
    from,
    to,
    cells: from.map((f) => to.map((t): Cell => (f === t ? '-' : '.'))),
    reason: () => 'mode none enforces nothing: every cell must be reachable',
  };
}

/** Addresses of a pod, node or external host of the state. */
function endpointAddresses(state: ClusterState, ref: EndpointRef): { ip: string; ips?: string[] } {
  const e = ref.startsWith('ext:')
    ? state.externals.find((x) => `ext:${x.name}` === ref)
    : ref.startsWith('node:')
      ? state.nodes.find((n) => `node:${n.name}` === ref)
      : state.pods.find((p) => podRef(p) === ref);
  if (!e) throw new Error(`unknown endpoint '${ref}'`);
  return e;
}
