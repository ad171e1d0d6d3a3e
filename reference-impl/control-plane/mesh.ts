// The control plane's mesh side (what istiod does for sidecars): from the same cluster state the L3 compiler
// reads, one config per sidecar — the AuthorizationPolicies that apply to its workload, its workload
// certificate from the mesh CA, the trust bundle and the mesh membership (address → expected SPIFFE ID) — pushed
// with the same versioned protocol as agents and SaPs (PUT /config, then GET /status until every sidecar reports
// the version: that interval is the programming latency, recorded like the L3 one).
import type { ClusterState, EndpointRef, Pod } from '../../src/policy/model.ts';
import { applicablePolicies } from '../../src/policy/authz/engine.ts';
import { ipMatches } from '../../src/policy/authz/match.ts';
import {
  DEFAULT_MESH_ROOT_NAMESPACE,
  spiffeId,
  type AuthorizationPolicy,
} from '../../src/policy/authz/model.ts';
import { MeshCA, type KeyAndCert } from '../mesh/ca.ts';
import type { SidecarConfigInput } from '../mesh/config.ts';
import { getStatus, unixRequest } from './server.ts';

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** Pods that get a sidecar: every pod unless the scenario says `sidecar: false`. */
export function meshPods(state: ClusterState): Pod[] {
  return state.pods.filter((p) => p.sidecar !== false);
}

export function serviceAccountOf(p: Pod): string {
  return p.serviceAccount ?? 'default';
}

export interface MeshCompileOptions {
  version: number;
  certs: ReadonlyMap<EndpointRef, KeyAndCert>;
  caPems: string[];
  /** Every address a pod's connections come from / are dialled at (pod IP; overlay IP under the overlay). */
  addresses: (ref: EndpointRef) => string[];
  /** Inbound ports of a pod that carry HTTP. */
  httpPorts: (pod: Pod) => number[];
  /**
   * Source addresses the sidecars see instead of the scenario's (under the overlay: real → overlay address).
   * Address-valued policy fields (ipBlocks, notIpBlocks, source.ip) are widened with the seen address of every
   * endpoint they cover, so a policy written against pod IPs means the same under every L3 mode.
   */
  seenAddresses?: () => { real: string; seen: string }[];
}

/**
 * A copy of `policy` whose address fields also cover the seen (e.g. overlay) address of every endpoint whose
 * real address they cover. Pure.
 */
export function translatePolicyAddresses(
  policy: AuthorizationPolicy,
  seen: { real: string; seen: string }[],
): AuthorizationPolicy {
  if (seen.length === 0) return policy;
  const widen = (blocks: string[] | undefined) =>
    blocks === undefined
      ? undefined
      : [
          ...new Set([
            ...blocks,
            ...blocks.flatMap((b) => seen.filter((e) => ipMatches(b, e.real)).map((e) => e.seen)),
          ]),
        ];
  const rules = policy.spec.rules?.map((r) => ({
    ...r,
    from: r.from?.map((f) => ({
      source: {
        ...f.source,
        ...(f.source.ipBlocks ? { ipBlocks: widen(f.source.ipBlocks) } : {}),
        ...(f.source.notIpBlocks ? { notIpBlocks: widen(f.source.notIpBlocks) } : {}),
      },
    })),
    when: r.when?.map((c) =>
      c.key === 'source.ip' ? { ...c, values: widen(c.values), notValues: widen(c.notValues) } : c,
    ),
  }));
  return { ...policy, spec: { ...policy.spec, ...(rules ? { rules } : {}) } };
}

export interface SidecarPlan {
  ref: EndpointRef;
  config: SidecarConfigInput;
}

/** Pure: one config per sidecar. Throws when a sidecar pod has no certificate (the caller issues first). */
export function compileMesh(state: ClusterState, o: MeshCompileOptions): SidecarPlan[] {
  const rootNamespace = state.meshRootNamespace ?? DEFAULT_MESH_ROOT_NAMESPACE;
  const pods = meshPods(state);
  const meshPeers: Record<string, string> = {};
  for (const p of pods)
    for (const a of o.addresses(podRef(p))) meshPeers[a] = spiffeId(p.namespace, serviceAccountOf(p));
  const seen = o.seenAddresses?.() ?? [];
  const all = (state.authorizationPolicies ?? []).map((p) => translatePolicyAddresses(p, seen));
  return pods.map((p) => {
    const ref = podRef(p);
    const cert = o.certs.get(ref);
    if (!cert) throw new Error(`no workload certificate issued for ${ref}`);
    const workload = {
      namespace: p.namespace,
      name: p.name,
      serviceAccount: serviceAccountOf(p),
      labels: p.labels,
    };
    return {
      ref,
      config: {
        version: o.version,
        workload,
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        caPems: o.caPems,
        meshPeers,
        httpPorts: o.httpPorts(p),
        policies: applicablePolicies(all, workload, { rootNamespace }),
        rootNamespace,
      },
    };
  });
}

export interface MeshProgramReport {
  version: number;
  ms: number;
  compileMs: number;
  issueMs: number;
  pushed: number;
  sidecars: number;
  policies: number;
}

/**
 * The mesh's desired state, CA and certificates, and the API socket of every sidecar. Driven one step at a
 * time by the enforcer (no concurrent program() calls).
 */
export class MeshControlPlane {
  version = 0;
  readonly sockets = new Map<EndpointRef, string>();
  private readonly certs = new Map<EndpointRef, KeyAndCert>();
  private readonly pushedBody = new Map<EndpointRef, { body: string; version: number }>();
  private state: ClusterState | undefined;
  /** Trust bundle; during a CA rotation it holds the old and the new root. */
  caPems: string[];

  private constructor(
    private ca: MeshCA,
    private readonly opts: Omit<MeshCompileOptions, 'version' | 'certs' | 'caPems'> & { certTtlMs?: number },
  ) {
    this.caPems = [ca.rootPem];
  }

  static async create(
    opts: Omit<MeshCompileOptions, 'version' | 'certs' | 'caPems'> & { certTtlMs?: number },
  ): Promise<MeshControlPlane> {
    return new MeshControlPlane(await MeshCA.create(), opts);
  }

  get rootPem(): string {
    return this.ca.rootPem;
  }

  /** Certificate for a pod (issued now if it has none): for tests that act as a workload. */
  async certificateOf(p: Pod): Promise<KeyAndCert> {
    const ref = podRef(p);
    let c = this.certs.get(ref);
    if (!c) {
      c = await this.ca.issue(
        { namespace: p.namespace, serviceAccount: serviceAccountOf(p) },
        this.opts.certTtlMs,
      );
      this.certs.set(ref, c);
    }
    return c;
  }

  /** Compiles `state` under a new version, pushes changed configs in parallel, waits until all are in force. */
  async program(state: ClusterState): Promise<MeshProgramReport> {
    const t0 = performance.now();
    const pods = meshPods(state);
    for (const ref of [...this.certs.keys()])
      if (!pods.some((p) => podRef(p) === ref)) this.certs.delete(ref);
    await Promise.all(pods.map((p) => this.certificateOf(p)));
    const t1 = performance.now();
    const version = this.version + 1;
    const plan = compileMesh(state, { ...this.opts, version, certs: this.certs, caPems: this.caPems });
    const compileMs = performance.now() - t1;
    const body = (c: SidecarConfigInput) => JSON.stringify({ ...c, version: 0 });
    const changed = plan.filter((s) => this.pushedBody.get(s.ref)?.body !== body(s.config));
    await Promise.all(changed.map((s) => this.push(s.ref, s.config)));
    for (const s of changed) this.pushedBody.set(s.ref, { body: body(s.config), version });
    for (const ref of [...this.pushedBody.keys()])
      if (!plan.some((s) => s.ref === ref)) this.pushedBody.delete(ref);
    await this.waitInForce(new Map(plan.map((s) => [s.ref, this.pushedBody.get(s.ref)!.version])));
    this.version = version;
    this.state = state;
    return {
      version,
      ms: performance.now() - t0,
      compileMs,
      issueMs: t1 - t0,
      pushed: changed.length,
      sidecars: plan.length,
      policies: plan.reduce((a, s) => a + s.config.policies.length, 0),
    };
  }

  /**
   * Workload-certificate rotation: new keys and certificates for every sidecar, pushed as a new version.
   * Handshakes after the push use the new certificate; connections already established keep running, so no
   * request is dropped (the integration test checks this under load).
   */
  async rotateCertificates(): Promise<MeshProgramReport> {
    if (!this.state) throw new Error('rotateCertificates before the first program()');
    this.certs.clear();
    return this.program(this.state);
  }

  private async push(ref: EndpointRef, config: unknown): Promise<void> {
    const socket = this.sockets.get(ref);
    if (!socket) throw new Error(`no sidecar registered for ${ref}`);
    const r = await unixRequest(socket, 'PUT', '/config', config).catch((e: Error) => {
      throw new Error(`PUT /config to sidecar ${ref} (${socket}): ${e.message}`);
    });
    if (r.status !== 200)
      throw new Error(`PUT /config to sidecar ${ref}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  }

  private async waitInForce(want: Map<EndpointRef, number>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...want.keys()];
    while (pending.length > 0) {
      const st = await Promise.all(
        pending.map((ref) =>
          getStatus(this.sockets.get(ref)!).then(
            (s) => s.version,
            () => -1,
          ),
        ),
      );
      pending = pending.filter((ref, i) => st[i]! < want.get(ref)!);
      if (pending.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`mesh config not in force at ${pending.join(', ')} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
