// The `overlay` enforcement mode: the reference overlay of the paper (reference-impl/) run in the platform's
// hosts. SaPs run in node hosts, agents in pod hosts and in external hosts (unmanaged endpoints); the control
// plane (in this process) compiles each state and pushes it as a new config version to all of them.
import type { ClusterState, EndpointRef, Flow, IPFamily } from '../policy/model.ts';
import { familyOf } from '../policy/family.ts';
import { familyAddress, type Network } from '../platform/platform.ts';
import type { Action } from '../scenario/types.ts';
import type { ApplyReport, Enforcer, EnforcerFactory } from './enforcer.ts';
import {
  compileOverlay,
  inexpressibleReason,
  overlayAddresses,
} from '../../reference-impl/control-plane/compile.ts';
import { ControlPlane, getStatus, type ProcessStatus } from '../../reference-impl/control-plane/server.ts';
import { OverlayProcesses, type Datapath } from './overlay/processes.ts';

export class OverlayEnforcer implements Enforcer {
  readonly mode: 'overlay' | 'overlay-ebpf';
  readonly cp: ControlPlane;
  readonly procs: OverlayProcesses;
  private overlayIps = new Map<EndpointRef, string>();
  private overlayIps6 = new Map<EndpointRef, string>();

  constructor(
    private readonly net: Pick<Network, 'spawn' | 'prefix' | 'address' | 'addresses' | 'topology'>,
    /** `ebpf`: the same processes and configs, with the kernel data path (reference-impl/ebpf/); or per process. */
    datapath: Datapath | ((id: string, kind: 'sap' | 'agent') => Datapath) = 'user',
    opts: { offload?: boolean } = {},
  ) {
    this.mode = datapath === 'ebpf' ? 'overlay-ebpf' : 'overlay';
    this.procs = new OverlayProcesses(
      net,
      typeof datapath === 'function' ? datapath : () => datapath,
      opts.offload ?? true,
    );
    this.cp = new ControlPlane({ topology: net.topology });
  }

  apply(state: ClusterState): Promise<ApplyReport> {
    return this.program(state);
  }

  update(state: ClusterState, _change: Action[]): Promise<ApplyReport> {
    // Any change can move peers anywhere; pods added or removed change the process set. Recompile all and
    // push one new version: the SaPs replace their tables atomically per push.
    return this.program(state);
  }

  /** Starts processes the state needs and stops those it no longer needs, then pushes a new version. */
  private async program(state: ClusterState): Promise<ApplyReport> {
    const t0 = performance.now();
    const wanted = compileOverlay(state, {
      version: this.cp.version + 1,
      keys: this.cp.keys,
      topology: this.net.topology,
    });
    const want = new Map<string, { kind: 'sap' | 'agent'; host: string }>([
      ...wanted.saps.map((s) => [s.id, { kind: 'sap' as const, host: s.host }] as const),
      ...wanted.agents.map((a) => [a.ref, { kind: 'agent' as const, host: a.ref }] as const),
    ]);
    const gone = this.procs.ids().filter((id) => !want.has(id));
    await Promise.all(gone.map((id) => this.procs.stop(id)));
    for (const id of gone) this.cp.sockets.delete(id);
    const fresh = [...want].filter(([id]) => !this.procs.get(id));
    const started = await Promise.allSettled(fresh.map(([id, w]) => this.procs.start(id, w.kind, w.host)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const r of started) if (r.status === 'fulfilled') this.cp.sockets.set(r.value.id, r.value.socket);
    if (failed) throw failed.reason;
    const t1 = performance.now();
    const r = await this.cp.program(state);
    this.overlayIps = r.plan.overlayIps;
    this.overlayIps6 = r.plan.overlayIps6 ?? new Map();
    return {
      programmingMs: r.ms,
      detail: {
        version: r.version,
        compileMs: round(r.compileMs),
        maxApplyMs: round(r.maxApplyMs),
        processStartMs: round(t1 - t0),
        processesStarted: fresh.length,
        processesStopped: gone.length,
        processesPushed: r.pushed,
        saps: r.plan.saps.length,
        agents: r.plan.agents.length,
        allowEntries: r.plan.saps.reduce(
          (a, s) =>
            a +
            s.config.endpoints.reduce((b, e) => b + (e.ingress?.length ?? 0) + (e.egress?.length ?? 0), 0),
          0,
        ),
        inexpressibleNotes: r.plan.notes.map((n) => `${n.subject}: ${n.reason}`).join('; '),
      },
    };
  }

  targetAddress(from: EndpointRef, to: EndpointRef, family?: IPFamily): string {
    // Only agent-carrying endpoints have a route into the overlay; a node reaches pods by their real address
    // (which the pod guard drops: see inexpressible()). An IPv6 connection uses the overlay IPv6 address.
    // No family given: the destination's primary one (an IPv6-only cluster's probes carry no family tag).
    const fam = family ?? familyOf(this.net.address(to));
    const ip = fam === 'IPv6' ? this.overlayIps6.get(to) : this.overlayIps.get(to);
    return ip && this.overlayIps.has(from) ? ip : familyAddress(this.net, to, family);
  }

  unsupportedProtocols(): string[] {
    return ['SCTP'];
  }

  inexpressible(state: ClusterState, flow: Flow): string | undefined {
    return inexpressibleReason(state, flow);
  }

  /** Counters of every running SaP and agent (GET /status), by process id. */
  async counters(): Promise<Record<string, ProcessStatus>> {
    const out: Record<string, ProcessStatus> = {};
    await Promise.all(
      this.procs.ids().map(async (id) => {
        out[id] = await getStatus(this.procs.get(id)!.socket).catch(() => ({ version: -1, counters: {} }));
      }),
    );
    return out;
  }

  /** Overlay address of an endpoint in the state last programmed (or a state given). */
  overlayAddress(ref: EndpointRef, state?: ClusterState): string | undefined {
    return state ? overlayAddresses(state).get(ref) : this.overlayIps.get(ref);
  }

  async teardown(): Promise<void> {
    this.cp.close();
    await this.procs.stopAll();
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export const createOverlayEnforcer: EnforcerFactory = (net: Network) => new OverlayEnforcer(net);
/**
 * Mode `overlay-ebpf`: same control plane, configs and wire format; agents and SaPs run in the kernel. Both
 * families are handled there (inner IPv4 and IPv6, IPv4 and IPv6 underlays; reference-impl/README.md, eBPF).
 */
export const createOverlayEbpfEnforcer: EnforcerFactory = (net: Network) => new OverlayEnforcer(net, 'ebpf');
