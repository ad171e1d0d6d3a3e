// Istio AuthorizationPolicy semantics: what the destination's inbound sidecar decides for one request. Pure.
//
// Sources (quoted or paraphrased; the conformance scenarios in scenarios/conformance-l7/ cite them per case):
//   R = https://istio.io/latest/docs/reference/config/security/authorization-policy/
//   C = https://istio.io/latest/docs/concepts/security/#authorization
//   T = https://istio.io/latest/docs/tasks/security/authorization/authz-tcp/
// - Order (R): "If there are any DENY policies that match the request, deny the request. If there are no ALLOW
//   policies for the workload, allow the request. If any of the ALLOW policies match the request, allow the
//   request. Deny the request." AUDIT (R): "AUDIT policies do not affect whether requests are allowed or denied".
// - A rule (R): "A match occurs when at least one source, one operation and all conditions matches the
//   request. An empty rule is always matched." Within a source/operation fields are ANDed; values of one field
//   ORed; a `notX` field matches when none of its values match.
// - Empty policies (C, "allow-nothing, deny-all and allow-all policy"): an ALLOW policy whose rules field is
//   not set "will never match" ("If there are no other ALLOW policies, requests will always be denied because of
//   the 'deny by default' behavior"); `rules: [{}]` "will always match" (allow-all, or deny-all with DENY); a DENY
//   policy without rules never matches, so it denies nothing.
// - Scope (C, "Policy Target"): a policy applies to its namespace, or to all namespaces when it lives in the root
//   namespace ("configurable, and the default is istio-system"); the selector's labels restrict it to workloads;
//   no selector = every workload of that scope.
// - Value matching (C): exact, `prefix*`, `*suffix`, and "`*` is used to specify anything but not empty";
//   "the ipBlocks under the source section" and "the ports field under the to section" only support exact match.
// - Identity (C, "Dependency on mutual TLS"): principals and namespaces come from the peer's mTLS certificate; a
//   plaintext request has none, so `principals`/`namespaces` (and source.principal/source.namespace values)
//   never match it, while the `not` forms do (the policy-bypass risk the page warns about under PERMISSIVE mTLS).
// - TCP (C): "If you use any HTTP only fields for a TCP workload, Istio will ignore HTTP-only fields in the
//   authorization policy." T spells out what that means per action: in an ALLOW policy "the rule becomes invalid
//   ... Istio ignores the invalid ALLOW rule" (it never matches); in a DENY policy the HTTP-only fields drop out
//   and the rule matches on what is left ("due to it's restrictive nature it denies all the traffic to the tcp
//   ports" when nothing is left). AUDIT is treated like DENY (it never decides anyway).
import { headerValue, ipMatches, matchAny, normalizePath, type NormalizedPath } from './match.ts';
import {
  DEFAULT_MESH_ROOT_NAMESPACE,
  type AuthorizationPolicy,
  type AuthzAction,
  type AuthzCondition,
  type AuthzOperation,
  type AuthzRule,
  type AuthzSource,
  type AuthzWorkload,
  type L7Request,
  type L7Verdict,
} from './model.ts';

export interface AuthzOptions {
  /** Istio's root namespace; default `istio-system`. */
  rootNamespace?: string;
}

const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const HEADER_KEY = /^request\.headers\[(.+)\]$/;

/** Whether a `when` key is HTTP-only (cannot be evaluated on a TCP connection). */
export function isHttpOnlyKey(key: string): boolean {
  return HEADER_KEY.test(key);
}

const present = (xs: readonly unknown[] | undefined): xs is unknown[] => xs !== undefined && xs.length > 0;

/** Whether a rule names any HTTP-only field (operations or `when` keys). */
export function ruleUsesHttpFields(rule: AuthzRule): boolean {
  return (
    (rule.to ?? []).some((t) => HTTP_OPERATION_FIELDS.some((f) => present(t.operation[f]))) ||
    (rule.when ?? []).some((w) => isHttpOnlyKey(w.key))
  );
}

export function policyKey(p: AuthorizationPolicy): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

export function policyAction(p: AuthorizationPolicy): AuthzAction {
  return p.spec.action ?? 'ALLOW';
}

/** Whether `policy` applies to `workload`: same namespace (or the root namespace) and matchLabels ⊆ labels. */
export function policyApplies(
  policy: AuthorizationPolicy,
  workload: AuthzWorkload,
  opts: AuthzOptions = {},
): boolean {
  const root = opts.rootNamespace ?? DEFAULT_MESH_ROOT_NAMESPACE;
  const ns = policy.metadata.namespace;
  if (ns !== workload.namespace && ns !== root) return false;
  const ml = policy.spec.selector?.matchLabels ?? {};
  return Object.entries(ml).every(([k, v]) => workload.labels[k] === v);
}

/** The policies that apply to a workload, in the order given. */
export function applicablePolicies(
  policies: readonly AuthorizationPolicy[],
  workload: AuthzWorkload,
  opts: AuthzOptions = {},
): AuthorizationPolicy[] {
  return policies.filter((p) => policyApplies(p, workload, opts));
}

/** `values` must match (if given) and `notValues` must not (if given); absent both = no constraint. */
function field(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  test: (v: string) => boolean,
): boolean {
  if (present(values) && !values.some(test)) return false;
  if (present(notValues) && notValues.some(test)) return false;
  return true;
}

/** An identity field: a request without identity matches no value (so every `not` form holds). */
function identityField(
  values: string[] | undefined,
  notValues: string[] | undefined,
  id: string | undefined,
): boolean {
  return field(values, notValues, (v) => id !== undefined && matchAny([v], id));
}

function sourceMatches(s: AuthzSource, req: L7Request): boolean {
  return (
    identityField(s.principals, s.notPrincipals, req.source.principal) &&
    identityField(s.namespaces, s.notNamespaces, req.source.namespace) &&
    field(s.ipBlocks, s.notIpBlocks, (b) => ipMatches(b, req.source.ip))
  );
}

function operationMatches(o: AuthzOperation, req: L7Request, path: string | undefined): boolean {
  if (!field(o.ports, o.notPorts, (p) => Number(p) === req.port)) return false;
  // On TCP only DENY/AUDIT get here with HTTP fields, and for them those fields are ignored.
  if (req.protocol === 'TCP') return true;
  return (
    field(o.hosts, o.notHosts, (h) => req.host !== undefined && matchAny([h], req.host, true)) &&
    field(o.methods, o.notMethods, (m) => req.method !== undefined && matchAny([m], req.method)) &&
    field(o.paths, o.notPaths, (p) => path !== undefined && matchAny([p], path))
  );
}

function conditionMatches(c: AuthzCondition, req: L7Request): boolean {
  const header = HEADER_KEY.exec(c.key);
  if (header) {
    if (req.protocol === 'TCP') return true; // ignored (DENY/AUDIT only; ALLOW rules with it were dropped)
    const value = headerValue(req.headers, header[1]!);
    return field(c.values, c.notValues, (v) => value !== undefined && matchAny([v], value));
  }
  switch (c.key) {
    case 'source.ip':
      return field(c.values, c.notValues, (b) => ipMatches(b, req.source.ip));
    case 'source.namespace':
      return identityField(c.values, c.notValues, req.source.namespace);
    case 'source.principal':
      return identityField(c.values, c.notValues, req.source.principal);
    case 'destination.port':
      return field(c.values, c.notValues, (p) => Number(p) === req.port);
    default:
      // The schema rejects other keys; a policy built in code with one matches nothing (fail closed for ALLOW).
      return false;
  }
}

/**
 * Whether one rule matches. `path` is the normalized path (HTTP). For TCP requests an ALLOW rule using
 * HTTP-only fields never matches; DENY/AUDIT rules ignore those fields.
 */
export function ruleMatches(rule: AuthzRule, action: AuthzAction, req: L7Request, path?: string): boolean {
  if (req.protocol === 'TCP' && action === 'ALLOW' && ruleUsesHttpFields(rule)) return false;
  if (present(rule.from) && !rule.from.some((f) => sourceMatches(f.source, req))) return false;
  if (present(rule.to) && !rule.to.some((t) => operationMatches(t.operation, req, path))) return false;
  return (rule.when ?? []).every((c) => conditionMatches(c, req));
}

/** Index of the first rule of `policy` that matches, or -1 (a policy without rules matches nothing). */
export function firstMatchingRule(policy: AuthorizationPolicy, req: L7Request, path?: string): number {
  const action = policyAction(policy);
  return (policy.spec.rules ?? []).findIndex((r) => ruleMatches(r, action, req, path));
}

/** Istio rejects these before authorization (normalization page); undefined when the request is well-formed. */
export function malformedRequest(req: L7Request): string | undefined {
  if (req.protocol !== 'HTTP') return undefined;
  if (req.method !== undefined && req.method !== req.method.toUpperCase())
    return `method '${req.method}' is not in upper case (Istio rejects it with 400)`;
  const n = normalizedPath(req.path ?? '/');
  return n.ok ? undefined : n.reason;
}

// The last path normalized: a sidecar or a table sees the same path many times in a row, and normalization is
// pure, so one remembered result saves the work without changing any answer.
let lastRaw: string | undefined;
let lastNorm: NormalizedPath | undefined;
function normalizedPath(raw: string): NormalizedPath {
  if (raw !== lastRaw) {
    lastNorm = normalizePath(raw);
    lastRaw = raw;
  }
  return lastNorm!;
}

/**
 * The inbound sidecar's decision for `request` at `destination`, given every AuthorizationPolicy of the mesh
 * (the engine picks those that apply). Order: 400 for malformed HTTP, then DENY, then ALLOW.
 */
export function evaluateAuthz(
  policies: readonly AuthorizationPolicy[],
  destination: AuthzWorkload,
  request: L7Request,
  opts: AuthzOptions = {},
): L7Verdict {
  const who = `${destination.namespace}/${destination.name}`;
  const deniedAs = request.protocol === 'HTTP' ? (403 as const) : ('reset' as const);
  const bad = malformedRequest(request);
  if (bad)
    return {
      allowed: false,
      denial: 400,
      reason: { text: `rejected before authorization: ${bad}` },
      audited: [],
    };
  const n = request.protocol === 'HTTP' ? normalizedPath(request.path ?? '/') : undefined;
  const path = n?.ok ? n.path : undefined;
  const applicable = applicablePolicies(policies, destination, opts);
  const byAction = (a: AuthzAction) => applicable.filter((p) => policyAction(p) === a);

  const audited: string[] = [];
  for (const p of byAction('AUDIT')) {
    const i = firstMatchingRule(p, request, path);
    if (i >= 0) audited.push(`${policyKey(p)}#${i}`);
  }
  for (const p of byAction('DENY')) {
    const i = firstMatchingRule(p, request, path);
    if (i >= 0)
      return {
        allowed: false,
        denial: deniedAs,
        reason: {
          policy: policyKey(p),
          rule: i,
          action: 'DENY',
          text: `denied at L7 by DENY policy ${policyKey(p)} rule ${i}`,
        },
        audited,
      };
  }
  const allows = byAction('ALLOW');
  if (allows.length === 0)
    return {
      allowed: true,
      reason: { text: `no ALLOW policy applies to ${who} and no DENY policy matches: allowed at L7` },
      audited,
    };
  for (const p of allows) {
    const i = firstMatchingRule(p, request, path);
    if (i >= 0)
      return {
        allowed: true,
        reason: {
          policy: policyKey(p),
          rule: i,
          action: 'ALLOW',
          text: `allowed at L7 by ALLOW policy ${policyKey(p)} rule ${i}`,
        },
        audited,
      };
  }
  return {
    allowed: false,
    denial: deniedAs,
    reason: {
      text: `denied at L7: ALLOW policies ${allows.map(policyKey).join(', ')} apply to ${who} but none matches`,
    },
    audited,
  };
}
