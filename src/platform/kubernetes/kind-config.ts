// Pure: a scenario topology → one kind Cluster config (kind.x-k8s.io/v1alpha4) per topology cluster.
// One control plane plus one worker per topology node; each worker carries `testbed.io/node=<name>` so pods
// are pinned with a nodeSelector (kind names workers `<cluster>-worker`, `-worker2`, …, not after our nodes).
// The pod subnet is the scenario cluster's podCIDR (so ipBlocks written against it keep meaning the pods);
// the service subnet is a /16 chosen to overlap nothing the scenario uses, the same way for every run.
import ipaddr from 'ipaddr.js';
import { stringify } from 'yaml';
import { InputError } from '../../errors.ts';
import type { Topology, TopologyCluster } from '../../scenario/types.ts';

export const NODE_LABEL = 'testbed.io/node';
/** Label on every namespace a run creates: how cleanup finds them on a shared cluster. */
export const RUN_LABEL = 'testbed.io/run';

export type CniName = 'kindnet' | 'calico' | 'cilium';
export const CNI_NAMES: readonly CniName[] = ['kindnet', 'calico', 'cilium'];

export interface KindNode {
  role: 'control-plane' | 'worker';
  labels?: Record<string, string>;
}

export interface KindClusterConfig {
  kind: 'Cluster';
  apiVersion: 'kind.x-k8s.io/v1alpha4';
  name: string;
  networking: {
    ipFamily: 'ipv4' | 'ipv6' | 'dual';
    podSubnet: string;
    serviceSubnet: string;
    disableDefaultCNI: boolean;
  };
  nodes: KindNode[];
}

/** kind cluster name for one topology cluster: the run prefix first, so cleanup can match it. */
export function kindClusterName(prefix: string, cluster: string): string {
  const name = `${prefix}-${cluster.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}`;
  // kind derives container and kubeconfig context names from it; keep it a DNS label.
  return name.slice(0, 50).replace(/-+$/, '');
}

function overlaps(a: string, b: string): boolean {
  const [na, ba] = ipaddr.parseCIDR(a);
  const [nb, bb] = ipaddr.parseCIDR(b);
  if (na.kind() !== nb.kind()) return false;
  return ba <= bb ? nb.match(na, ba) : na.match(nb, bb);
}

/** Every CIDR the scenario itself uses: pod, underlay and external ranges. */
function usedCIDRs(t: Topology): string[] {
  return [
    ...t.clusters.flatMap((c) => [c.podCIDR, c.underlayCIDR, ...c.nodes.map((n) => n.podCIDR)]),
    t.externalCIDR,
  ];
}

/** A /16 service subnet per cluster from 10.96.0.0/12 (kubeadm's default block), skipping anything in use. */
export function serviceSubnets(t: Topology): Map<string, string> {
  const taken = usedCIDRs(t);
  const out = new Map<string, string>();
  let octet = 96;
  for (const c of t.clusters) {
    let cidr = `10.${octet}.0.0/16`;
    while (taken.some((u) => overlaps(u, cidr))) {
      octet++;
      if (octet > 111)
        throw new InputError(
          '',
          `topology.clusters.${c.name}`,
          'no free /16 left in 10.96.0.0/12 for the service subnet',
        );
      cidr = `10.${octet}.0.0/16`;
    }
    out.set(c.name, cidr);
    taken.push(cidr);
    octet++;
  }
  return out;
}

/**
 * IPv6 service range of the i-th cluster: a /112 (kind's own default size) in fd00:96::/32, which the automatic
 * IPv6 plan (fd00:10::/32 pods, fd00:198::/32 underlay and externals) never uses.
 */
export function serviceSubnet6(index: number): string {
  return `fd00:96:${index.toString(16)}::/112`;
}

export function kindConfig(
  prefix: string,
  cluster: TopologyCluster,
  serviceSubnet: string,
  cni: CniName,
  index = 0,
): KindClusterConfig {
  // kind's `ipFamily` is the cluster's families; dual-stack takes both subnets, comma-separated, primary first.
  const podCIDRs = cluster.podCIDRs ?? [cluster.podCIDR];
  const kinds = podCIDRs.map((c) => ipaddr.parseCIDR(c)[0].kind());
  const family = kinds.length > 1 ? 'dual' : kinds[0] === 'ipv6' ? 'ipv6' : 'ipv4';
  const services = kinds.map((k) => (k === 'ipv6' ? serviceSubnet6(index) : serviceSubnet));
  return {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: kindClusterName(prefix, cluster.name),
    networking: {
      ipFamily: family,
      podSubnet: podCIDRs.join(','),
      serviceSubnet: services.join(','),
      // kindnet is kind's default CNI; any other CNI needs it off, or two CNIs fight over the pods.
      disableDefaultCNI: cni !== 'kindnet',
    },
    nodes: [
      { role: 'control-plane' },
      ...cluster.nodes.map((n): KindNode => ({ role: 'worker', labels: { [NODE_LABEL]: n.name } })),
    ],
  };
}

/** One config per topology cluster, in topology order. */
export function kindConfigs(prefix: string, t: Topology, cni: CniName): KindClusterConfig[] {
  const svc = serviceSubnets(t);
  return t.clusters.map((c, i) => kindConfig(prefix, c, svc.get(c.name)!, cni, i));
}

export function kindConfigYAML(c: KindClusterConfig): string {
  return stringify(c, { lineWidth: 0 });
}
