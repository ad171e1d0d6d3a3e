// The `+l7` modes: a service mesh (a sidecar per pod, mutual TLS, Istio AuthorizationPolicy at the inbound
// sidecar) on top of any L3 mode. `native+l7` is what clusters run today (CNI NetworkPolicy plus Istio),
// `overlay+l7` the paper's design (the overlay enforcing L3 under the mesh), `none+l7` the mesh alone. The L3
// enforcer is wrapped, not changed: it programs its data path, the mesh control plane programs the sidecars
// from the same state, both in parallel; a step is in force when both are.
import type { ClusterState, EndpointRef, Flow } from '../../policy/model.ts';
import type { Network } from '../../platform/platform.ts';
import type { Mode } from '../../scenario/schema.ts';
import type { Action } from '../../scenario/types.ts';
import type { ApplyReport, Enforcer, EnforcerFactory, EnforcerOptions } from '../enforcer.ts';
import { MeshControlPlane, meshPods } from '../../../reference-impl/control-plane/mesh.ts';
import { getStatus, type ProcessStatus } from '../../../reference-impl/control-plane/server.ts';
import { Sidecars } from './sidecars.ts';

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

interface OverlayLike {
  overlayAddress?(ref: EndpointRef, state?: ClusterState): string | undefined;
}

export class MeshEnforcer implements Enforcer {
  readonly sidecars: Sidecars;
  cp: MeshControlPlane | undefined;
  private state: ClusterState | undefined;
  private readonly httpPorts: number[];

  constructor(
    readonly mode: Mode,
    readonly inner: Enforcer,
    private readonly net: Pick<Network, 'spawn' | 'exec' | 'prefix' | 'address'>,
    opts: EnforcerOptions = {},
  ) {
    this.sidecars = new Sidecars(net);
    this.httpPorts = opts.httpPorts ?? [];
  }

  /** Addresses a pod's mesh connections come from and are dialled at: its pod IP and, under the overlay, its overlay IP. */
  private addresses(ref: EndpointRef): string[] {
    const out = [this.net.address(ref)];
    const ov = (this.inner as OverlayLike).overlayAddress?.(ref, this.state);
    if (ov && ov !== out[0]) out.push(ov);
    return out;
  }

  /** Endpoints whose connections arrive from another address than their own (the overlay's). */
  private seenAddresses(): { real: string; seen: string }[] {
    const st = this.state;
    const inner = this.inner as OverlayLike;
    if (!st || !inner.overlayAddress) return [];
    const refs = [...st.pods.map(podRef), ...st.externals.map((e) => `ext:${e.name}`)];
    return refs.flatMap((ref) => {
      const seen = inner.overlayAddress!(ref, st);
      const real = this.net.address(ref);
      return seen && seen !== real ? [{ real, seen }] : [];
    });
  }

  private async controlPlane(): Promise<MeshControlPlane> {
    this.cp ??= await MeshControlPlane.create({
      addresses: (ref) => this.addresses(ref),
      // Only ports the scenario speaks HTTP on: a container port *named* http (Istio's convention) may carry
      // the probes' banner protocol here, and parsing it as HTTP would stall a server-first protocol.
      httpPorts: () => [...this.httpPorts].sort((a, b) => a - b),
      seenAddresses: () => this.seenAddresses(),
    });
    return this.cp;
  }

  apply(state: ClusterState): Promise<ApplyReport> {
    return this.step(state, () => this.inner.apply(state));
  }

  update(state: ClusterState, change: Action[]): Promise<ApplyReport> {
    return this.step(state, () => this.inner.update(state, change));
  }

  private async step(state: ClusterState, l3: () => Promise<ApplyReport>): Promise<ApplyReport> {
    const t0 = performance.now();
    this.state = state;
    const [r3, r7] = await Promise.all([l3(), this.programMesh(state)]);
    return {
      programmingMs: performance.now() - t0,
      detail: {
        ...Object.fromEntries(Object.entries(r3.detail ?? {}).map(([k, v]) => [`l3.${k}`, v])),
        l3ProgrammingMs: round(r3.programmingMs),
        l7ProgrammingMs: round(r7.ms),
        l7PushMs: round(r7.pushMs),
        l7Version: r7.version,
        l7CompileMs: round(r7.compileMs),
        l7IssueMs: round(r7.issueMs),
        sidecarsStarted: r7.started,
        sidecarsStopped: r7.stopped,
        sidecarsPushed: r7.pushed,
        sidecars: r7.sidecars,
        l7Policies: r7.policies,
      },
    };
  }

  /** Starts sidecars for new mesh pods, stops those of pods gone, and pushes a new mesh config version. */
  private async programMesh(state: ClusterState) {
    const t0 = performance.now();
    const cp = await this.controlPlane();
    const want = new Set(meshPods(state).map(podRef));
    const gone = this.sidecars.hosts().filter((h) => !want.has(h));
    const present = new Set(state.pods.map(podRef));
    await Promise.all(gone.map((h) => this.sidecars.stop(h, { podGone: !present.has(h) })));
    for (const h of gone) cp.sockets.delete(h);
    const fresh = [...want].filter((h) => !this.sidecars.get(h));
    const started = await Promise.allSettled(fresh.map((h) => this.sidecars.start(h)));
    for (const r of started) if (r.status === 'fulfilled') cp.sockets.set(r.value.host, r.value.socket);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const t1 = performance.now();
    const r = await cp.program(state);
    return {
      ...r,
      ms: performance.now() - t0,
      pushMs: performance.now() - t1,
      started: fresh.length,
      stopped: gone.length,
    };
  }

  targetAddress(from: EndpointRef, to: EndpointRef): string {
    return this.inner.targetAddress(from, to);
  }

  unsupportedProtocols(): string[] {
    return this.inner.unsupportedProtocols();
  }

  inexpressible(state: ClusterState, flow: Flow): string | undefined {
    return this.inner.inexpressible?.(state, flow);
  }

  /** Counters of every sidecar (GET /status), by pod. */
  async counters(): Promise<Record<string, ProcessStatus>> {
    const out: Record<string, ProcessStatus> = {};
    await Promise.all(
      this.sidecars.hosts().map(async (h) => {
        out[h] = await getStatus(this.sidecars.get(h)!.socket).catch(() => ({ version: -1, counters: {} }));
      }),
    );
    return out;
  }

  async teardown(): Promise<void> {
    await this.sidecars.stopAll();
    await this.inner.teardown();
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `<l3>+l7`: the mesh on top of the L3 mode's enforcer. */
export function withL7(mode: Mode, l3: EnforcerFactory): EnforcerFactory {
  return (net, opts) => new MeshEnforcer(mode, l3(net, opts), net, opts);
}
