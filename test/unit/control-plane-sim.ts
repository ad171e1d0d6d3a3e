// Test helpers for the control-plane compiler: random small cluster states (fast-check) and a pure simulation
// of what the SaPs do with the compiled tables (../../reference-impl/CONTRACT.md, "Policy semantics in the
// SaP"), written independently of the compiler so the two can be compared with the engine.
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import type {
  ClusterState,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Pod,
} from '../../src/policy/model.ts';
import { METADATA_NAME_LABEL } from '../../src/policy/model.ts';
import type { OverlayPlan } from '../../reference-impl/control-plane/compile.ts';

type SapCfg = OverlayPlan['saps'][number]['config'];
type Entry = NonNullable<SapCfg['endpoints'][number]['ingress']>[number];

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), 32];
  return ipaddr.parse(ip).match(net, bits as number);
}

function entryMatches(e: Entry, peerIp: string, protocol: string, port: number): boolean {
  if (
    e.peers &&
    !e.peers.some((p) => inCidr(peerIp, p.cidr) && !(p.except ?? []).some((x) => inCidr(peerIp, x)))
  )
    return false;
  if (!e.ports || e.ports.length === 0) return true;
  return e.ports.some((r) => r.protocol === protocol && port >= r.portFrom && port <= r.portTo);
}

export interface SimResult {
  allowed: boolean;
  hops: string[];
}

/** Follows a packet from the source agent through the SaPs to the destination agent. */
export function simulate(
  plan: OverlayPlan,
  from: string,
  to: string,
  protocol: string,
  port: number,
): SimResult {
  const src = plan.overlayIps.get(from);
  const dst = plan.overlayIps.get(to);
  if (!src || !dst) throw new Error(`no overlay address for ${from} or ${to}`);
  const agent = plan.agents.find((a) => a.ref === from)!;
  let sap = plan.saps.find(
    (s) => s.listen.ip === agent.config.sap.ip && (s.listen.port ?? 6080) === (agent.config.sap.port ?? 6080),
  );
  if (!sap) throw new Error(`agent ${from} sends to no SaP`);
  const hops = [sap.id];
  const srcEp = sap.config.endpoints.find((e) => e.overlayIp === src)!;
  if (srcEp.sap !== sap.id || !srcEp.agent) throw new Error(`${from} is not local at its SaP ${sap.id}`);
  if (srcEp.isolatedEgress && !(srcEp.egress ?? []).some((e) => entryMatches(e, dst, protocol, port)))
    return { allowed: false, hops };
  for (let n = 0; n < 6; n++) {
    const dstEp = sap.config.endpoints.find((e) => e.overlayIp === dst);
    if (!dstEp) throw new Error(`SaP ${sap.id} has no route to ${to}`);
    if (dstEp.sap === sap.id) {
      if (!dstEp.agent) throw new Error(`local endpoint ${to} without agent at ${sap.id}`);
      if (dstEp.isolatedIngress && !(dstEp.ingress ?? []).some((e) => entryMatches(e, src, protocol, port)))
        return { allowed: false, hops };
      return { allowed: true, hops };
    }
    const via: string = (sap.config.routes ?? []).find((r) => r.sap === dstEp.sap)?.via ?? dstEp.sap;
    if (!(sap.config.saps ?? []).some((p) => p.id === via))
      throw new Error(`SaP ${sap.id} does not know next hop ${via}`);
    sap = plan.saps.find((s): boolean => s.id === via)!;
    hops.push(sap.id);
  }
  throw new Error(`routing loop ${hops.join(' → ')}`);
}

// ---- random states ------------------------------------------------------------------------------------

const LABEL_VALUES = ['a', 'b', 'c'];
const sel = (keys: string[]): fc.Arbitrary<LabelSelector> =>
  fc.oneof(
    fc.constant({}),
    fc.record({
      matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...LABEL_VALUES), { maxKeys: 1 }),
    }),
    fc.record({
      matchExpressions: fc.array(
        fc.oneof(
          fc.record({
            key: fc.constantFrom(...keys),
            operator: fc.constantFrom('In' as const, 'NotIn' as const),
            values: fc.subarray(LABEL_VALUES, { minLength: 1 }),
          }),
          fc.record({
            key: fc.constantFrom(...keys),
            operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
          }),
        ),
        { minLength: 1, maxLength: 2 },
      ),
    }),
  );

const CIDRS = [
  '10.1.0.0/16',
  '10.1.1.0/24',
  '10.2.0.0/16',
  '198.19.0.0/24',
  '10.0.0.0/8',
  '0.0.0.0/0',
  '10.1.1.10/32',
  '198.18.0.0/16',
];
const peer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  fc.record({ podSelector: sel(['app', 'tier']) }),
  fc.record({ namespaceSelector: sel(['team']) }),
  fc.record({ podSelector: sel(['app', 'tier']), namespaceSelector: sel(['team']) }),
  fc.record({
    ipBlock: fc.record({
      cidr: fc.constantFrom(...CIDRS),
      except: fc.subarray(['10.1.1.0/24', '10.2.1.11/32', '198.19.0.10/32'], { maxLength: 1 }),
    }),
  }),
);
const policyPort: fc.Arbitrary<NetworkPolicyPort> = fc.oneof(
  fc.record({ port: fc.constantFrom(80, 81) }, { requiredKeys: [] }),
  fc.record(
    {
      protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
      port: fc.constantFrom(80, 81, 'web', 'dns'),
    },
    { requiredKeys: ['port'] },
  ),
  fc.record({
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
    port: fc.constant(79),
    endPort: fc.constantFrom(80, 81),
  }),
  fc.record({ protocol: fc.constantFrom('TCP' as const, 'UDP' as const) }),
);
const rules = fc.option(
  fc.array(
    fc.record({
      peers: fc.option(fc.array(peer, { maxLength: 2 })),
      ports: fc.option(fc.array(policyPort, { maxLength: 2 })),
    }),
    { maxLength: 2 },
  ),
);

const policyArb = (i: number): fc.Arbitrary<NetworkPolicy> =>
  fc
    .record({
      ns: fc.constantFrom('x', 'y'),
      podSelector: sel(['app', 'tier']),
      types: fc.option(fc.subarray(['Ingress', 'Egress'] as const, { minLength: 1 })),
      ingress: rules,
      egress: rules,
    })
    .map(({ ns, podSelector, types, ingress, egress }) => {
      const spec: NetworkPolicy['spec'] = { podSelector };
      if (types) spec.policyTypes = [...types];
      if (ingress)
        spec.ingress = ingress.map((r) => ({
          ...(r.peers ? { from: r.peers } : {}),
          ...(r.ports ? { ports: r.ports } : {}),
        }));
      if (egress)
        spec.egress = egress.map((r) => ({
          ...(r.peers ? { to: r.peers } : {}),
          ...(r.ports ? { ports: r.ports } : {}),
        }));
      return {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: `p${i}`, namespace: ns },
        spec,
      };
    });

const NODES = [
  { name: 'n1', cluster: 'c1', ip: '198.18.0.10', podCIDR: '10.1.1.0/24' },
  { name: 'n2', cluster: 'c1', ip: '198.18.0.11', podCIDR: '10.1.2.0/24' },
  { name: 'm1', cluster: 'c2', ip: '198.18.1.10', podCIDR: '10.2.1.0/24' },
];

const podArb = fc.record({
  ns: fc.constantFrom('x', 'y'),
  node: fc.constantFrom(...NODES),
  app: fc.option(fc.constantFrom(...LABEL_VALUES)),
  tier: fc.option(fc.constantFrom(...LABEL_VALUES)),
  webPort: fc.constantFrom(80, 81),
  dnsUdp: fc.boolean(),
});

export const stateArb: fc.Arbitrary<ClusterState> = fc
  .record({
    pods: fc.array(podArb, { minLength: 2, maxLength: 6 }),
    teamX: fc.constantFrom(...LABEL_VALUES),
    teamY: fc.option(fc.constantFrom(...LABEL_VALUES)),
    nPolicies: fc.integer({ min: 0, max: 3 }),
  })
  .chain(({ pods, teamX, teamY, nPolicies }) =>
    fc.tuple(...Array.from({ length: nPolicies }, (_, i) => policyArb(i))).map((policies) => {
      const next = new Map<string, number>();
      const ps: Pod[] = pods.map((p, i) => {
        const h = next.get(p.node.name) ?? 10;
        next.set(p.node.name, h + 1);
        const labels: Record<string, string> = {};
        if (p.app) labels.app = p.app;
        if (p.tier) labels.tier = p.tier;
        return {
          namespace: p.ns,
          name: `p${i}`,
          labels,
          node: p.node.name,
          cluster: p.node.cluster,
          ip: p.node.podCIDR.replace(/0\/24$/, String(h)),
          ports: [
            { port: p.webPort, protocol: 'TCP', name: 'web' },
            ...(p.dnsUdp ? [{ port: 81, protocol: 'UDP' as const, name: 'dns' }] : []),
          ],
        };
      });
      return {
        namespaces: [
          { name: 'x', labels: { team: teamX, [METADATA_NAME_LABEL]: 'x' } },
          { name: 'y', labels: { ...(teamY ? { team: teamY } : {}), [METADATA_NAME_LABEL]: 'y' } },
        ],
        pods: ps,
        nodes: NODES.map((n) => ({ ...n })),
        externals: [{ name: 'out', ip: '198.19.0.10' }],
        policies,
      };
    }),
  );
