// L3 × L7: the NetworkPolicy verdict (src/policy/engine.ts) and the AuthorizationPolicy verdict (./engine.ts)
// for one probe, combined the way the data path composes them. Pure.
//
// A request first has to reach the destination pod (L3: the connection is established only when NetworkPolicy
// allows it); only then does the destination's inbound sidecar see it and apply AuthorizationPolicy (L7). So:
// L3 denies → "denied at L3" (no connection); L3 allows and L7 denies → "denied at L7" (HTTP 403 / TCP closed by
// the proxy); both allow → allowed. L7 applies only when the destination is a pod with a sidecar; the client's
// identity exists only when the source is a pod with a sidecar (then mTLS carries it); external hosts, nodes and
// pods with `sidecar: false` are plaintext clients.
import type { ClusterState, Flow, Pod } from '../model.ts';
import { verdict as l3Verdict } from '../engine.ts';
import { resolveFlowPort } from '../ports.ts';
import { evaluateAuthz } from './engine.ts';
import {
  DEFAULT_MESH_ROOT_NAMESPACE,
  workloadPrincipal,
  type CombinedVerdict,
  type HttpProbeSpec,
  type L7Request,
  type LayerSelection,
} from './model.ts';

const ALL_LAYERS: LayerSelection = { l3: true, l7: true };

/** Which layers a mode enforces (`none`, `native`, `overlay`, each optionally `+l7`). */
export function layersOf(mode: string): LayerSelection {
  const l7 = mode.endsWith('+l7');
  const base = l7 ? mode.slice(0, -3) : mode;
  return { l3: base !== 'none', l7 };
}

function podOf(state: ClusterState, ref: string) {
  if (ref.startsWith('ext:') || ref.startsWith('node:')) return undefined;
  const [ns, name] = ref.split('/');
  return state.pods.find((p) => p.namespace === ns && p.name === name);
}

function addressOf(state: ClusterState, ref: string): string {
  if (ref.startsWith('ext:')) return state.externals.find((e) => e.name === ref.slice(4))?.ip ?? '';
  if (ref.startsWith('node:')) return state.nodes.find((n) => n.name === ref.slice(5))?.ip ?? '';
  return podOf(state, ref)?.ip ?? '';
}

/** Whether an endpoint runs a sidecar under +l7 modes (pods do unless `sidecar: false`). */
export function hasSidecar(state: ClusterState, ref: string): boolean {
  const p = podOf(state, ref);
  return p !== undefined && p.sidecar !== false;
}

export interface RequestOptions {
  /** The source address the destination sidecar sees (default: the source's scenario address). */
  sourceIp?: string;
}

/** The source attributes a server sidecar sees from `src` (a pod, or undefined for a node / external host). */
export function sourceOf(src: Pod | undefined, ip: string): L7Request['source'] {
  return src && src.sidecar !== false
    ? {
        principal: workloadPrincipal(src.namespace, src.serviceAccount ?? 'default'),
        namespace: src.namespace,
        ip,
      }
    : { ip };
}

/** The request for a resolved port, source and destination address (the pieces requestFor looks up). */
export function buildRequest(
  source: L7Request['source'],
  port: number,
  dstIp: string,
  http?: HttpProbeSpec,
): L7Request {
  if (!http) return { source, port, protocol: 'TCP' };
  return {
    source,
    port,
    protocol: 'HTTP',
    method: http.method,
    path: http.path,
    host: http.host ?? (port === 80 ? dstIp : `${dstIp}:${port}`),
    headers: { ...(http.headers ?? {}) },
  };
}

/**
 * The request the destination's sidecar sees for a probe: identity from the source pod's service account when
 * the source has a sidecar (mTLS), none otherwise; TCP unless `http` is given. The port is the flow's port,
 * resolved against the destination (named ports). undefined when a named port does not exist there.
 */
export function requestFor(
  state: ClusterState,
  flow: Flow,
  http?: HttpProbeSpec,
  opts: RequestOptions = {},
): L7Request | undefined {
  const port = resolveFlowPort(flow.port, flow.protocol, podOf(state, flow.to));
  if (port === undefined) return undefined;
  const source = sourceOf(podOf(state, flow.from), opts.sourceIp ?? addressOf(state, flow.from));
  return buildRequest(source, port, addressOf(state, flow.to), http);
}

/**
 * The combined verdict for one probe. `request` defaults to `requestFor(state, flow)` (a TCP probe); pass one
 * built with `requestFor(state, flow, http)` for an HTTP probe, or a hand-made one (e.g. a forged header).
 * `layers` says which layers the mode enforces (default both); L3 is always explained.
 */
export function combinedVerdict(
  state: ClusterState,
  flow: Flow,
  request: L7Request | undefined = requestFor(state, flow),
  layers: LayerSelection = ALL_LAYERS,
): CombinedVerdict {
  const v3 = l3Verdict(state, flow);
  const l3reason = `egress: ${v3.egress.reason}; ingress: ${v3.ingress.reason}`;
  const l3 = { allowed: v3.allowed, reason: l3reason };
  if (v3.allowed === 'undefined')
    return { allowed: 'undefined', layer: undefined, reason: 'a pod reaching itself (undefined)', l3 };
  if (layers.l3 && !v3.allowed)
    return { allowed: false, layer: 'L3', reason: `denied at L3: ${l3reason}`, l3 };
  const dst = podOf(state, flow.to);
  if (!layers.l7 || !dst || dst.sidecar === false) {
    const why = !layers.l7 ? 'L7 not enforced in this mode' : `${flow.to} has no sidecar: no L7 enforcement`;
    return {
      allowed: true,
      layer: undefined,
      reason: `${layers.l3 ? 'allowed at L3' : 'L3 not enforced'}; ${why}`,
      l3,
    };
  }
  if (!request)
    return {
      allowed: false,
      layer: 'L3',
      reason: `denied at L3: ${flow.to} has no port named '${flow.port}'`,
      l3,
    };
  const l7 = evaluateAuthz(state.authorizationPolicies ?? [], dst, request, {
    rootNamespace: state.meshRootNamespace ?? DEFAULT_MESH_ROOT_NAMESPACE,
  });
  const head = layers.l3 ? 'allowed at L3' : 'L3 not enforced';
  if (!l7.allowed) return { allowed: false, layer: 'L7', reason: `${head}; ${l7.reason.text}`, l3, l7 };
  return { allowed: true, layer: undefined, reason: `${head}; ${l7.reason.text}`, l3, l7 };
}
