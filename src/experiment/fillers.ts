// Filler policies for the scale sweep (pure): N policies that select the measured flow's destination pod and
// admit only sources from a reserved range (198.18.0.0/15, RFC 2544 benchmarking) on ports nobody uses, so the
// measured flow's verdict does not change while every enforcer has N more policies to compile and walk.
import type { ClusterState, Flow, NetworkPolicy, Pod } from '../policy/model.ts';
import { verdict } from '../policy/engine.ts';

function fillerCidr(i: number, v6: boolean): string {
  if (v6) return `fd00:198:${(18 + ((i >> 16) & 1)).toString(16)}::${(i & 0xffff).toString(16)}/128`;
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}/32`;
}

export function fillerPolicies(target: Pod, n: number): NetworkPolicy[] {
  const out: NetworkPolicy[] = [];
  for (let i = 0; i < n; i++)
    out.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `filler-${i}`, namespace: target.namespace },
      spec: {
        podSelector: { matchLabels: { ...target.labels } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            // An IPv6-only target gets IPv6 fillers (the reserved range's IPv6 twin, fd00:198:18::/47), so
            // they cost an IPv6 data path what IPv4 fillers cost an IPv4 one.
            from: [
              {
                ipBlock: {
                  cidr: fillerCidr(
                    i,
                    target.ip.includes(':') && !(target.ips ?? []).some((a) => !a.includes(':')),
                  ),
                },
              },
            ],
            ports: [{ protocol: 'TCP', port: 20000 + (i % 40000) }],
          },
        ],
      },
    });
  return out;
}

/**
 * The state with n fillers added, or the reason the sweep cannot run on this flow: fillers isolate the
 * destination, so they would deny the flow unless a scenario policy already admits it.
 */
export function withFillers(
  state: ClusterState,
  flow: Flow,
  n: number,
): { state: ClusterState } | { reason: string } {
  const target = state.pods.find((p) => `${p.namespace}/${p.name}` === flow.to);
  if (!target) return { reason: `sweep target ${flow.to} is not a pod` };
  const next: ClusterState = { ...state, policies: [...state.policies, ...fillerPolicies(target, n)] };
  const before = verdict(state, flow).allowed;
  const after = verdict(next, flow).allowed;
  if (before !== after)
    return {
      reason: `filler policies would change the verdict of ${flow.from} → ${flow.to} (${before} → ${after}); the scenario must admit the flow by policy`,
    };
  return { state: next };
}
