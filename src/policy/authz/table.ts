// Truth tables with the L7 layer: the L3 table (src/policy/truthtable.ts, bitsets) refined cell by cell with
// the AuthorizationPolicy verdict. Cells: `.` allowed, `X` denied at L3 (no connection), `7` denied at L7
// (HTTP 403 from the destination's sidecar, or a TCP connection it accepts and closes; also Istio's 400 for
// a malformed request), `-` a pod reaching itself. Pure.
import type { ClusterState, EndpointRef } from '../model.ts';
import { compileState, type CompiledState } from '../compile.ts';
import { truthTables, type Cell, type ProbeSelection, type TruthTable } from '../truthtable.ts';
import { combinedVerdict, requestFor } from './combined.ts';
import { evaluateAuthz } from './engine.ts';
import { DEFAULT_MESH_ROOT_NAMESPACE, type HttpProbeSpec, type LayerSelection } from './model.ts';

export interface L7ProbeSelection extends ProbeSelection {
  http?: HttpProbeSpec;
}

export interface L7TableOptions {
  /** Which layers the mode enforces (default both). */
  layers?: LayerSelection;
  /** The source address the destination's sidecar sees, per source (default: the scenario address). */
  sourceIp?: (from: EndpointRef) => string;
}

/** Whether a probe needs the L7 refinement at all (otherwise the L3 table is the answer). */
export function needsL7(state: ClusterState, probe: L7ProbeSelection): boolean {
  return probe.http !== undefined || (state.authorizationPolicies?.length ?? 0) > 0;
}

/**
 * The combined table of a probe under `layers`. With L7 off it is the L3 table; with L3 off every
 * connection is established and only L7 can deny.
 */
export function l7TruthTable(
  state: ClusterState | CompiledState,
  probe: L7ProbeSelection,
  opts: L7TableOptions = {},
): TruthTable {
  const layers = opts.layers ?? { l3: true, l7: true };
  const cs = 'caches' in state ? state : compileState(state);
  const st = cs.state;
  const base = truthTables(cs, probe).combined;
  if (!layers.l7 && layers.l3) return base;
  const refine = layers.l7 && (needsL7(st, probe) || opts.sourceIp !== undefined);
  const root = st.meshRootNamespace ?? DEFAULT_MESH_ROOT_NAMESPACE;
  const policies = st.authorizationPolicies ?? [];
  const pods = new Map(st.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const cells: Cell[][] = base.cells.map((row, i) =>
    row.map((c, j): Cell => {
      if (c === '-') return c;
      if (layers.l3 && c === 'X') return 'X';
      if (!refine) return '.';
      const from = base.from[i]!;
      const to = base.to[j]!;
      const dst = pods.get(to);
      if (!dst || dst.sidecar === false) return '.';
      const flow = { from, to, port: probe.port, protocol: probe.protocol };
      const req = requestFor(st, flow, probe.http, opts.sourceIp ? { sourceIp: opts.sourceIp(from) } : {});
      if (!req) return layers.l3 ? 'X' : '.';
      return evaluateAuthz(policies, dst, req, { rootNamespace: root }).allowed ? '.' : '7';
    }),
  );
  const reason = (from: EndpointRef, to: EndpointRef) => {
    const flow = { from, to, port: probe.port, protocol: probe.protocol };
    const req = requestFor(st, flow, probe.http, opts.sourceIp ? { sourceIp: opts.sourceIp(from) } : {});
    return combinedVerdict(st, flow, req, layers).reason;
  };
  return {
    kind: 'combined',
    port: probe.port,
    protocol: probe.protocol,
    from: base.from,
    to: base.to,
    cells,
    reason,
  };
}
