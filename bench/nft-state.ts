// A synthetic cluster for the nftables benchmarks: nodes × pods spread over namespaces, and N policies mixing
// label selectors, matchExpressions, namespace selectors, ipBlocks with except, numeric, ranged and named ports,
// ingress and egress. Deterministic in (nodes, podsPerNode, policies).
import type {
  ClusterState,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  Pod,
} from '../src/policy/model.ts';
import { METADATA_NAME_LABEL } from '../src/policy/model.ts';

const TIERS = ['web', 'api', 'db'];
const NAMESPACES = 5;

/**
 * `sparse`: each policy selects about 2 pods (app label with 45 values), as in clusters with many small
 * workloads; otherwise ("dense") about 10, so with 10,000 policies every one of 90 pods is selected by ~1,100.
 */
export function syntheticState(opts: {
  nodes: number;
  podsPerNode: number;
  policies: number;
  sparse?: boolean;
  /** Dual-stack: every pod, node and external also has an IPv6 address, and every other ipBlock is IPv6. */
  dual?: boolean;
}): ClusterState {
  const apps = opts.sparse ? 45 : 10;
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => ({
    name: `ns${i}`,
    labels: { team: `t${i % 3}`, [METADATA_NAME_LABEL]: `ns${i}` },
  }));
  const nodes = Array.from({ length: opts.nodes }, (_, n) => ({
    name: `n${n + 1}`,
    cluster: 'c1',
    ip: `198.18.0.${10 + n}`,
    podCIDR: `10.1.${n + 1}.0/24`,
    ...(opts.dual
      ? {
          ips: [`198.18.0.${10 + n}`, `fd00:198:18::${(10 + n).toString(16)}`],
          podCIDRs: [`10.1.${n + 1}.0/24`, `fd00:10:1:${(n + 1).toString(16)}::/64`],
        }
      : {}),
  }));
  const pods: Pod[] = [];
  for (let n = 0; n < opts.nodes; n++)
    for (let k = 0; k < opts.podsPerNode; k++) {
      const i = n * opts.podsPerNode + k;
      pods.push({
        namespace: `ns${i % NAMESPACES}`,
        name: `p${i}`,
        node: nodes[n]!.name,
        cluster: 'c1',
        ip: `10.1.${n + 1}.${10 + k}`,
        ...(opts.dual
          ? {
              ips: [`10.1.${n + 1}.${10 + k}`, `fd00:10:1:${(n + 1).toString(16)}::${(10 + k).toString(16)}`],
            }
          : {}),
        labels: { app: `app${i % apps}`, tier: TIERS[i % 3]!, ver: `v${i % 4}` },
        ports: [
          { port: 80, protocol: 'TCP', name: 'http' },
          { port: 53, protocol: 'UDP', name: 'dns' },
          { port: 8000 + (i % 7), protocol: 'TCP', name: 'metrics' },
        ],
      });
    }
  const policies = syntheticPolicies(opts.policies, apps, opts.dual);
  const externals = [
    { name: 'e1', ip: '198.19.0.10', ...(opts.dual ? { ips: ['198.19.0.10', 'fd00:198:19::a'] } : {}) },
  ];
  return { namespaces, nodes, pods, externals, policies };
}

/** Policies over namespaces ns0…ns4 and pod labels app=appN (N<10), tier=web|api|db, ver=vN (N<4). */
export function syntheticPolicies(count: number, apps = 10, dual = false): NetworkPolicy[] {
  return Array.from({ length: count }, (_, j) => syntheticPolicy(j, apps, dual));
}

function syntheticPolicy(j: number, apps: number, dual = false): NetworkPolicy {
  // Dual-stack: odd policies carry IPv6 ipBlocks (the same shapes, in the IPv6 plan), even ones IPv4.
  const v6 = dual && j % 2 === 1;
  const ns = `ns${j % NAMESPACES}`;
  const podSelector =
    j % 4 === 0 && apps === 10
      ? {
          matchExpressions: [
            { key: 'tier', operator: 'In' as const, values: [TIERS[j % 3]!, TIERS[(j + 1) % 3]!] },
          ],
        }
      : { matchLabels: { app: `app${j % apps}` } };
  const ingress: NetworkPolicyIngressRule[] = [
    {
      from: [
        { podSelector: { matchLabels: { tier: TIERS[(j + 2) % 3]! } } },
        { namespaceSelector: { matchLabels: { team: `t${j % 3}` } } },
      ],
      // A quarter of the policies name a port, which resolves differently on different pods.
      ports: j % 4 === 1 ? [{ port: 80 + (j % 50) }, { port: 'metrics' }] : [{ port: 80 + (j % 50) }],
    },
  ];
  if (j % 3 === 0)
    ingress.push({
      from: [
        v6
          ? {
              ipBlock: {
                cidr: `fd00:10:${(j % 200).toString(16)}::/48`,
                except: [`fd00:10:${(j % 200).toString(16)}:${(j % 250).toString(16)}::/64`],
              },
            }
          : { ipBlock: { cidr: `10.${j % 200}.0.0/16`, except: [`10.${j % 200}.${j % 250}.0/24`] } },
      ],
      ports: [{ protocol: 'TCP', port: 1000 + (j % 1000), endPort: 1100 + (j % 1000) }, { protocol: 'UDP' }],
    });
  const spec: NetworkPolicy['spec'] = { podSelector, ingress };
  if (j % 5 === 0) {
    const egress: NetworkPolicyEgressRule[] = [
      {
        to: [{ namespaceSelector: {}, podSelector: { matchLabels: { ver: `v${j % 4}` } } }],
        ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }],
      },
      { to: [{ ipBlock: { cidr: v6 ? 'fd00:198:19::/64' : '198.19.0.0/24' } }], ports: [{ port: 443 }] },
    ];
    spec.egress = egress;
    spec.policyTypes = ['Ingress', 'Egress'];
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: ns, name: `pol-${j}` },
    spec,
  };
}
