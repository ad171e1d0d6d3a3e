// The control plane as a Kubernetes controller: four List+Watch caches (managed pods, the overlay's own SaP
// pods, namespaces, NetworkPolicies) feed one desired state (state-from-api.ts), which the *same* ControlPlane
// as on Mininet (../server.ts: compileOverlay, versioned parallel push, in-force confirmation) programs.
// Bursts of events are debounced into one version (at most `maxDelayMs` after the first event of a burst);
// a state equal to the one in force is not pushed again; a failed program is retried with backoff.
import { CoreV1Api, NetworkingV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Topology } from '../../../src/scenario/types.ts';
import { MANAGED_LABEL, MANAGED_VALUE, ROLE_LABEL } from '../../k8s/constants.ts';
import { ControlPlane, getStatus } from '../server.ts';
import { backoffDelay, Reflector, type ListResult } from './reflector.ts';
import { desiredFromApi, desiredKey, type ApiTarget, type DesiredState } from './state-from-api.ts';

export interface ControllerOptions {
  cluster: string;
  /** Namespace of the overlay's SaP and gateway pods. */
  namespace: string;
  /** Quiet time after the last event of a burst before programming (default 50 ms). */
  debounceMs?: number;
  /** Longest a burst may defer programming (default 500 ms). */
  maxDelayMs?: number;
  apiAddress?: (t: ApiTarget) => string;
  backoff?: { initialMs?: number; maxMs?: number };
  /** One JSON object per notable event (programmed, invalid policy, watch error…). */
  log?: (entry: Record<string, unknown>) => void;
}

export interface ProgramRecord {
  version: number;
  /** Push start → every process reports the version (the Mininet harness's programming latency). */
  ms: number;
  compileMs: number;
  pushed: number;
  /** First API event of the burst → in force (includes the debounce wait). */
  sinceEventMs: number;
  pods: number;
  policies: number;
}

export interface ControllerStatus {
  synced: boolean;
  version: number;
  inForce: boolean;
  last?: ProgramRecord;
  programs: number;
  invalidPolicies: DesiredState['invalidPolicies'];
  skippedPods: DesiredState['skippedPods'];
  waiting?: string;
  lastError?: string;
  /** Overlay address of every served pod (`ns/name` → IP): what clients in the overlay connect to. */
  overlayIps: Record<string, string>;
  watches: Record<string, Reflector['stats']>;
}

export class OverlayController {
  readonly cp: ControlPlane;
  readonly reflectors: Record<'pods' | 'components' | 'namespaces' | 'policies', Reflector>;
  private readonly topology: Pick<Topology, 'clusters'> = { clusters: [] };
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt: number | undefined;
  private busy = false;
  private dirty = false;
  private appliedKey = '';
  private adopted = false;
  private failures = 0;
  private stopped = false;
  private readonly st: ControllerStatus = {
    synced: false,
    version: 0,
    inForce: false,
    programs: 0,
    invalidPolicies: [],
    skippedPods: [],
    overlayIps: {},
    watches: {},
  };
  private readonly reported = new Set<string>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    kc: KubeConfig,
    private readonly opts: ControllerOptions,
  ) {
    // The ControlPlane keeps this object: the gateway address is updated in place when the gateway moves.
    this.cp = new ControlPlane({ topology: this.topology });
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    const managed = `${MANAGED_LABEL}=${MANAGED_VALUE}`;
    const mk = (path: string, list: () => Promise<unknown>, labelSelector?: string) =>
      new Reflector(kc, {
        path,
        labelSelector,
        list: list as () => Promise<ListResult>,
        onChange: () => this.changed(),
        onError: (what, err) => this.log({ event: 'watchError', what, error: errText(err) }),
        backoff: opts.backoff,
      });
    this.reflectors = {
      pods: mk('/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: managed }), managed),
      components: mk(
        `/api/v1/namespaces/${opts.namespace}/pods`,
        () => core.listNamespacedPod({ namespace: opts.namespace, labelSelector: ROLE_LABEL }),
        ROLE_LABEL,
      ),
      namespaces: mk('/api/v1/namespaces', () => core.listNamespace()),
      policies: mk('/apis/networking.k8s.io/v1/networkpolicies', () =>
        net.listNetworkPolicyForAllNamespaces(),
      ),
    };
  }

  start(): void {
    this.stopped = false;
    for (const r of Object.values(this.reflectors)) r.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(Object.values(this.reflectors).map((r) => r.stop()));
    this.cp.close();
  }

  status(): ControllerStatus {
    const watches = Object.fromEntries(Object.entries(this.reflectors).map(([k, r]) => [k, { ...r.stats }]));
    const overlayIps = Object.fromEntries(
      [...(this.cp.plan?.overlayIps ?? new Map<string, string>())].sort(),
    );
    return { ...this.st, version: this.cp.version, overlayIps, watches };
  }

  /** Resolves once no event is pending and no program is running (tests, graceful shutdown). */
  idle(): Promise<void> {
    if (!this.busy && !this.timer && !this.dirty) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private log(e: Record<string, unknown>): void {
    this.opts.log?.({ time: new Date().toISOString(), ...e });
  }

  private changed(): void {
    if (this.stopped) return;
    const synced = Object.values(this.reflectors).every((r) => r.synced);
    this.st.synced = synced;
    if (!synced) return;
    this.dirty = true;
    const now = performance.now();
    this.firstEventAt ??= now;
    this.schedule(
      Math.min(
        this.opts.debounceMs ?? 50,
        Math.max(0, this.firstEventAt + (this.opts.maxDelayMs ?? 500) - now),
      ),
    );
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  private snapshot(): DesiredState {
    return desiredFromApi(
      {
        pods: this.reflectors.pods.list(),
        components: this.reflectors.components.list(),
        namespaces: this.reflectors.namespaces.list(),
        policies: this.reflectors.policies.list(),
      },
      { cluster: this.opts.cluster, apiAddress: this.opts.apiAddress },
    );
  }

  private async flush(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.dirty = false;
    const startedAt = this.firstEventAt ?? performance.now();
    this.firstEventAt = undefined;
    try {
      const d = this.snapshot();
      this.report(d);
      if (d.waiting) return;
      const key = desiredKey(d);
      if (key === this.appliedKey) return;
      this.cp.sockets.clear();
      for (const [id, addr] of d.targets) this.cp.sockets.set(id, addr);
      this.topology.clusters = d.topology.clusters;
      if (!this.adopted) await this.adoptVersion();
      const r = await this.cp.program(d.state);
      this.appliedKey = key;
      this.failures = 0;
      this.st.programs++;
      this.st.inForce = true;
      this.st.lastError = undefined;
      this.st.last = {
        version: r.version,
        ms: r.ms,
        compileMs: r.compileMs,
        pushed: r.pushed,
        sinceEventMs: performance.now() - startedAt,
        pods: d.state.pods.length,
        policies: d.state.policies.length,
      };
      this.log({ event: 'inForce', ...this.st.last });
    } catch (e) {
      this.st.inForce = false;
      this.st.lastError = errText(e);
      this.log({ event: 'programError', error: this.st.lastError });
      // Retry the same desired state after a backoff; newer events make it newer meanwhile.
      this.dirty = true;
      this.firstEventAt ??= startedAt;
      this.schedule(backoffDelay(this.failures++, this.opts.backoff?.initialMs, this.opts.backoff?.maxMs));
    } finally {
      this.busy = false;
      if (this.dirty && !this.timer && !this.stopped) this.schedule(0);
      if (!this.dirty && !this.timer) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Processes ignore versions at or below the one they run, so a restarted controller first adopts the
   * highest version any process reports; its first push is then newer than what is in force.
   */
  private async adoptVersion(): Promise<void> {
    const versions = await Promise.all(
      [...this.cp.sockets.values()].map((s) =>
        getStatus(s, 1000).then(
          (x) => x.version,
          () => 0,
        ),
      ),
    );
    this.cp.version = Math.max(this.cp.version, 0, ...versions);
    this.adopted = true;
  }

  private report(d: DesiredState): void {
    this.st.invalidPolicies = d.invalidPolicies;
    this.st.skippedPods = d.skippedPods;
    this.st.waiting = d.waiting;
    for (const p of d.invalidPolicies) {
      const k = `${p.policy}:${p.reason}`;
      if (this.reported.has(k)) continue;
      this.reported.add(k);
      this.log({ event: 'invalidPolicy', ...p });
    }
  }
}

function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}
