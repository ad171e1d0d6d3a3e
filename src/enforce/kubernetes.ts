// Enforcement modes on a Kubernetes network. The platform brings up pods; the enforcer makes the cluster's
// API state match the scenario state (namespace and pod labels always; NetworkPolicies only where the mode
// posts them) and measures programming latency as Kubernetes defines it: from the API write returning until
// a probe of a pair whose verdict flips sees the new verdict (a new connection per probe). The exec round
// trip of those probes is that figure's resolution and is reported beside it.
//   none     posts no policy
//   native   posts the NetworkPolicies; the cluster's CNI enforces them
//   overlay  see kubernetes-overlay.ts
import { compileState, verdict } from '../policy/engine.ts';
import type { ClusterState, EndpointRef, Flow, Protocol } from '../policy/model.ts';
import type { KubernetesNetwork } from '../platform/kubernetes/network.ts';
import { connectArgv, interpretConnect } from '../platform/kubernetes/probe.ts';
import type { Mode } from '../scenario/schema.ts';
import type { Action } from '../scenario/types.ts';
import type { ApplyReport, Enforcer } from './enforcer.ts';

/** How long a step waits for its flipping pair to show the new verdict (read per step, so tests may lower it). */
export const programmingLimitMs = () => Number(process.env.TESTBED_K8S_PROGRAMMING_LIMIT_MS ?? 30_000);
const FLIP_PROBE_TIMEOUT_MS = 1000;
/** Candidate cells examined for a flipping pair (a sweep with thousands of pods needs only one). */
const MAX_CANDIDATES = 5000;

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** A pair whose verdict differs between two states, on a port the destination serves; undefined if none. */
export function flippingPair(
  before: ClusterState,
  after: ClusterState,
  hosts: Set<string>,
): { flow: Flow; allowed: boolean } | undefined {
  const a = compileState(before);
  const b = compileState(after);
  let n = 0;
  for (const dst of after.pods) {
    const to = podRef(dst);
    if (!hosts.has(to)) continue;
    for (const cp of dst.ports) {
      if (cp.protocol === 'SCTP') continue;
      for (const src of after.pods) {
        const from = podRef(src);
        if (from === to || !hosts.has(from) || src.cluster !== dst.cluster) continue;
        if (++n > MAX_CANDIDATES) return undefined;
        const flow: Flow = { from, to, port: cp.port, protocol: cp.protocol as Protocol };
        const known =
          before.pods.some((p) => podRef(p) === from) && before.pods.some((p) => podRef(p) === to);
        const was = known ? verdict(a, flow).allowed : true;
        const now = verdict(b, flow).allowed;
        if (typeof now === 'boolean' && was !== now) return { flow, allowed: now };
      }
    }
  }
  return undefined;
}

export class KubernetesEnforcer implements Enforcer {
  private current?: ClusterState;
  private readonly postsPolicies: boolean;

  constructor(
    readonly mode: Mode,
    protected readonly net: KubernetesNetwork,
  ) {
    this.postsPolicies = mode !== 'none';
  }

  async apply(state: ClusterState): Promise<ApplyReport> {
    const t0 = performance.now();
    for (const ns of state.namespaces) await this.net.ensureNamespace(ns.name, ns.labels);
    for (const [ref, labels] of state.pods.map((p) => [podRef(p), p.labels] as const))
      await this.net.setPodLabels(ref, labels);
    if (this.postsPolicies) for (const p of state.policies) await this.net.putPolicy(p, 'create');
    const written = performance.now();
    const before: ClusterState = { ...state, policies: [] };
    const report = await this.observe(before, state, written - t0);
    this.current = state;
    return report;
  }

  async update(state: ClusterState, change: Action[]): Promise<ApplyReport> {
    const t0 = performance.now();
    for (const a of change) {
      if ('setPodLabels' in a) await this.net.setPodLabels(a.setPodLabels.pod, a.setPodLabels.labels);
      else if ('setNamespaceLabels' in a) {
        const ns = state.namespaces.find((n) => n.name === a.setNamespaceLabels.namespace);
        await this.net.setNamespaceLabels(
          a.setNamespaceLabels.namespace,
          ns?.labels ?? a.setNamespaceLabels.labels,
        );
      } else if (!this.postsPolicies) continue;
      else if ('createPolicy' in a) await this.net.putPolicy(a.createPolicy, 'create');
      else if ('updatePolicy' in a) await this.net.putPolicy(a.updatePolicy, 'update');
      else if ('deletePolicy' in a)
        await this.net.deletePolicy(a.deletePolicy.namespace, a.deletePolicy.name);
      // addPod / removePod went through the Network before update() (run-scenario); labels of added pods are theirs.
    }
    const written = performance.now();
    const report = await this.observe(this.current ?? state, state, written - t0);
    this.current = state;
    return report;
  }

  /** Probes one flipping pair, a new connection each time, until it shows the new verdict or the limit passes. */
  private async observe(before: ClusterState, after: ClusterState, apiWriteMs: number): Promise<ApplyReport> {
    const cni = this.net.cni;
    const detail: Record<string, number | string> = {
      apiWriteMs: round(apiWriteMs),
      cni: `${cni.name} ${cni.version}`,
      cniEnforced:
        cni.enforcesNetworkPolicy === undefined
          ? 'unknown'
          : String(cni.enforcesNetworkPolicy && this.mode !== 'none'),
    };
    if (!this.postsPolicies)
      return { programmingMs: 0, detail: { ...detail, observed: 'mode none: nothing to observe' } };
    const flip = flippingPair(before, after, new Set(this.net.hosts()));
    if (!flip) return { programmingMs: 0, detail: { ...detail, observed: 'no pair changes verdict' } };
    const { flow, allowed } = flip;
    const t0 = performance.now();
    const rtts: number[] = [];
    let seen: boolean | undefined;
    let lastDetail = '';
    const limit = programmingLimitMs();
    while (performance.now() - t0 < limit) {
      const s = performance.now();
      const r = await this.net
        .exec(
          flow.from,
          connectArgv(
            this.targetAddress(flow.from, flow.to),
            Number(flow.port),
            flow.protocol,
            FLIP_PROBE_TIMEOUT_MS,
          ),
          { timeoutMs: FLIP_PROBE_TIMEOUT_MS + 10_000 },
        )
        .then((x) => interpretConnect({ ...x, timedOut: x.timedOut }, FLIP_PROBE_TIMEOUT_MS + 10_000))
        .catch((e: Error) => ({ outcome: 'error' as const, detail: e.message }));
      rtts.push(performance.now() - s);
      lastDetail = r.detail;
      if (r.outcome === 'error') break;
      seen = r.outcome === 'reached';
      if (seen === allowed) break;
    }
    const programmingMs = performance.now() - t0;
    rtts.sort((x, y) => x - y);
    Object.assign(detail, {
      pair: `${flow.from} -> ${flow.to} ${flow.port}/${flow.protocol}`,
      expect: allowed ? 'allowed' : 'denied',
      probes: rtts.length,
      execRoundTripMs: round(rtts[Math.floor(rtts.length / 2)] ?? 0),
      observed: seen === allowed ? 'new verdict seen' : `not seen within ${limit} ms (last: ${lastDetail})`,
    });
    return { programmingMs, detail };
  }

  targetAddress(_from: EndpointRef, to: EndpointRef): string {
    // Nodes and external hosts have no counterpart on this platform; their cells come back unsupported.
    return this.net.hosts().includes(to) ? this.net.address(to) : '0.0.0.0';
  }

  unsupportedProtocols(): string[] {
    return process.env.TESTBED_K8S_SCTP === '1' ? [] : ['SCTP'];
  }

  /**
   * ipBlocks are written against the scenario's planned pod addresses; a CNI that assigns others (kindnet,
   * Cilium; Calico honours the request) makes cells involving those pods incomparable, and says so.
   */
  inexpressible(state: ClusterState, flow: Flow): string | undefined {
    if (!state.policies.some((p) => JSON.stringify(p.spec).includes('"ipBlock"'))) return undefined;
    const moved = this.net
      .addressPlan()
      .filter((a) => a.planned !== a.actual && (a.host === flow.from || a.host === flow.to));
    if (moved.length === 0) return undefined;
    return `ipBlocks name planned addresses, but the CNI gave ${moved.map((m) => `${m.host} ${m.actual} (planned ${m.planned})`).join(', ')}`;
  }

  async teardown(): Promise<void> {
    // Policies live in the run's namespaces (or clusters), which the network removes on down().
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
