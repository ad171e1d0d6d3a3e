// Truth tables with the L7 layer: the L3 table (src/policy/truthtable.ts, bitsets) refined cell by cell with
// the AuthorizationPolicy verdict. Cells: `.` allowed, `X` denied at L3 (no connection), `7` denied at L7
// (HTTP 403 from the destination's sidecar, or a TCP connection it accepts and closes; also Istio's 400 for
// a malformed request), `-` a pod reaching itself. Pure.
import type { ClusterState, EndpointRef } from '../model.ts';
import { compileState, type CompiledState } from '../compile.ts';
import { truthTables, type Cell, type ProbeSelection, type TruthTable } from '../truthtable.ts';
import { resolveFlowPort } from '../ports.ts';
import { buildRequest, combinedVerdict, requestFor, sourceOf } from './combined.ts';
import { applicablePolicies, evaluateAuthz } from './engine.ts';
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
  // Per destination once: its pod, the policies that apply to it and the resolved port; per source once: what
  // its sidecar presents. Each cell then costs one evaluation over that destination's policies only.
  const cols = base.to.map((to) => {
    const dst = cs.endpoints[cs.byRef.get(to)!]!;
    const pod = dst.pod;
    if (!pod || pod.sidecar === false) return undefined;
    const port = resolveFlowPort(probe.port, probe.protocol, pod);
    return { pod, ip: dst.ip, port, policies: applicablePolicies(policies, pod, { rootNamespace: root }) };
  });
  const rows = base.from.map((from) => {
    const src = cs.endpoints[cs.byRef.get(from)!]!;
    return sourceOf(src.pod, opts.sourceIp ? opts.sourceIp(from) : src.ip);
  });
  const cells: Cell[][] = base.cells.map((row, i) =>
    row.map((c, j): Cell => {
      if (c === '-') return c;
      if (layers.l3 && c === 'X') return 'X';
      const col = cols[j];
      if (!refine || !col) return '.';
      if (col.port === undefined) return layers.l3 ? 'X' : '.';
      const req = buildRequest(rows[i]!, col.port, col.ip, probe.http);
      return evaluateAuthz(col.policies, col.pod, req, { rootNamespace: root }).allowed ? '.' : '7';
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
