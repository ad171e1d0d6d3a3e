// Istio security.istio.io/v1 AuthorizationPolicy, the L7 request the sidecar sees, and the verdict it acts on.
//
// THIS FILE IS THE CONTRACT WITH THE SIDECAR (reference-impl/mesh/) AND THE +l7 ENFORCERS (src/enforce/).
// The sidecar builds an `L7Request` from what it observes on an inbound connection and asks the engine
// (`evaluateAuthz` in ./engine.ts) for an `L7Verdict`; the truth tables ask the same engine through
// `combinedVerdict`. Change a shape here only together with both sides.
//
// What each field of `L7Request` means, as Istio defines the attribute
// (https://istio.io/latest/docs/reference/config/security/authorization-policy/,
//  https://istio.io/latest/docs/reference/config/security/conditions/):
//   source.principal  the SPIFFE identity of the peer's mTLS certificate without the `spiffe://` scheme,
//                     `cluster.local/ns/<ns>/sa/<sa>`; undefined for a plaintext connection (no client
//                     certificate). Never taken from a header.
//   source.namespace  the `<ns>` segment of that same identity; undefined for plaintext.
//   source.ip         the peer address of the connection as the server-side sidecar sees it.
//   port              the destination port of the connection (the application's port the sidecar intercepted).
//   protocol          'HTTP' when the connection carries an HTTP/1.1 request (Istio detects the protocol; the
//                     testbed's probes are HTTP probes or raw TCP probes), else 'TCP'.
//   method/path/host/headers  HTTP only. `path` is the raw request target as sent (with any query string);
//                     the engine normalizes it. `host` is the Host header (the probe default is
//                     `<destination ip>` or `<destination ip>:<port>` when the port is not 80, as curl and
//                     Node's http client send it). Header names in `headers` may have any case.
import type { Labels } from '../model.ts';

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** `from[].source`. Every field optional; fields are ANDed, values within a field ORed. */
export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  /** Single IPs or CIDRs, matched against the connection's source address. */
  ipBlocks?: string[];
  notIpBlocks?: string[];
}

/** `to[].operation`. hosts/methods/paths are HTTP-only; ports apply to TCP too. Ports are strings, as in Istio. */
export interface AuthzOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

/**
 * `when[]`. Supported keys: `request.headers[<name>]` (HTTP-only), `source.ip`, `source.namespace`,
 * `source.principal`, `destination.port`.
 */
export interface AuthzCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface AuthzRule {
  from?: { source: AuthzSource }[];
  to?: { operation: AuthzOperation }[];
  when?: AuthzCondition[];
}

export interface AuthorizationPolicy {
  apiVersion: 'security.istio.io/v1';
  kind: 'AuthorizationPolicy';
  metadata: { name: string; namespace: string; labels?: Labels; annotations?: Record<string, string> };
  spec: {
    /** Absent or empty: every workload of the namespace (of every namespace for the root namespace). */
    selector?: { matchLabels?: Labels };
    /** Default ALLOW. */
    action?: AuthzAction;
    rules?: AuthzRule[];
  };
}

/** The root namespace Istio uses unless configured otherwise (meshConfig.rootNamespace). */
export const DEFAULT_MESH_ROOT_NAMESPACE = 'istio-system';
/** Trust domain of workload identities. */
export const TRUST_DOMAIN = 'cluster.local';

/** `cluster.local/ns/<ns>/sa/<sa>`: the principal of a workload (its certificate's URI SAN minus `spiffe://`). */
export function workloadPrincipal(namespace: string, serviceAccount: string): string {
  return `${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}

/** `spiffe://cluster.local/ns/<ns>/sa/<sa>`: the URI SAN the control plane's CA puts in a workload certificate. */
export function spiffeId(namespace: string, serviceAccount: string): string {
  return `spiffe://${workloadPrincipal(namespace, serviceAccount)}`;
}

/**
 * Principal and namespace from a peer certificate's URI SAN (`spiffe://<td>/ns/<ns>/sa/<sa>`); undefined when
 * the URI is not a workload identity (such a peer is treated like one without identity).
 */
export function peerIdentity(uri: string): { principal: string; namespace: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  return { principal: `${m[1]}/ns/${m[2]}/sa/${m[3]}`, namespace: m[2]! };
}

/** Names the destination workload: the pod whose inbound sidecar evaluates the policies. */
export interface AuthzWorkload {
  namespace: string;
  name: string;
  labels: Labels;
}

export interface L7Request {
  source: {
    /** undefined: plaintext (no client certificate). */
    principal?: string;
    /** undefined: plaintext. Always the namespace segment of `principal` when that is set. */
    namespace?: string;
    ip: string;
  };
  /** Destination port of the connection. */
  port: number;
  protocol: 'TCP' | 'HTTP';
  method?: string;
  /** Raw request target, e.g. `/a/%2e%2e/b?x=1`. */
  path?: string;
  host?: string;
  headers?: Record<string, string>;
}

/** Why the engine decided as it did. */
export interface L7Reason {
  /** `ns/name` of the deciding policy; absent when no policy decided (no ALLOW policy, or none matched). */
  policy?: string;
  /** Index of the matching rule within that policy. */
  rule?: number;
  /** Action of the deciding policy. */
  action?: AuthzAction;
  /** One line for people. */
  text: string;
}

export interface L7Verdict {
  allowed: boolean;
  /**
   * What the client observes from the proxy when denied: 403 for an HTTP request denied by policy, 400 for a
   * request Istio rejects before authorization (a `%00` in the path, a method not in upper case), 'reset' for a
   * TCP connection denied by policy (the proxy accepts and then closes it). Absent when allowed.
   */
  denial?: 403 | 400 | 'reset';
  reason: L7Reason;
  /** AUDIT policies whose rules matched (they never change the verdict), as `ns/name#rule`. */
  audited: string[];
}

/** Which layer decided a combined verdict: undefined when allowed (or a pod reaching itself). */
export type DecidingLayer = 'L3' | 'L7' | undefined;

export interface CombinedVerdict {
  /** 'undefined' for a pod reaching itself (NetworkPolicy leaves it open). */
  allowed: boolean | 'undefined';
  layer: DecidingLayer;
  /** One line: which layer, which policy, which rule. */
  reason: string;
  /** The L3 verdict's explanation (always computed, even when L3 enforcement is off). */
  l3: { allowed: boolean | 'undefined'; reason: string };
  /** Absent when no sidecar evaluates the request (the destination is not a pod with a sidecar). */
  l7?: L7Verdict;
}

/** Which layers a mode enforces: `native+l7` = both, `none+l7` = L7 only, `native` = L3 only. */
export interface LayerSelection {
  l3: boolean;
  l7: boolean;
}

/** HTTP attributes of a probe (the scenario's `probes[].http`). */
export interface HttpProbeSpec {
  method: string;
  path: string;
  host?: string;
  headers?: Record<string, string>;
}
