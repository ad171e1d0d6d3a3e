// The resolved scenario: plain data with every address assigned, every policy file read, every reference
// checked. Everything downstream (engine, platforms, enforcers, reports) reads only this.
import type { ClusterState, IPFamily, NetworkPolicy, Labels } from '../policy/model.ts';
import type { MeasurementSpec, Mode, ProbeSpec } from './schema.ts';
import type { Pod } from '../policy/model.ts';
import type { AuthorizationPolicy } from '../policy/authz/model.ts';

export interface TopologyNode {
  name: string;
  cluster: string;
  /** Underlay address of the node (on its cluster's underlay segment). */
  ip: string;
  podCIDR: string;
  /** Dual-stack: every underlay address / pod CIDR, one per family, primary first (absent: `[ip]`, `[podCIDR]`). */
  ips?: string[];
  podCIDRs?: string[];
}

export interface TopologyCluster {
  name: string;
  /** Primary first; absent means `[IPv4]`. The primary family's values fill the single-valued fields. */
  ipFamilies?: IPFamily[];
  podCIDR: string;
  /** The cluster's underlay segment; the inter-cluster router holds `gateway` on it. */
  underlayCIDR: string;
  gateway: string;
  /** One per family, primary first (absent: `[podCIDR]`, `[underlayCIDR]`, `[gateway]`). */
  podCIDRs?: string[];
  underlayCIDRs?: string[];
  gateways?: string[];
  nodes: TopologyNode[];
}

export interface Topology {
  clusters: TopologyCluster[];
  /** Unmanaged endpoints on the external segment behind the router. */
  externals: { name: string; ip: string; ips?: string[] }[];
  externalCIDR: string;
  externalGateway: string;
  /** The external segment per family, primary first (absent: `[externalCIDR]`, `[externalGateway]`). */
  externalCIDRs?: string[];
  externalGateways?: string[];
  links: { bandwidthMbit?: number; delayMs?: number; lossPercent?: number; mtu?: number };
}

export type Action =
  | { createPolicy: NetworkPolicy }
  | { updatePolicy: NetworkPolicy }
  | { deletePolicy: { namespace: string; name: string } }
  | { setPodLabels: { pod: string; labels: Labels } }
  | { setNamespaceLabels: { namespace: string; labels: Labels } }
  | { addPod: Pod }
  | { removePod: { pod: string } }
  | { createAuthorizationPolicy: AuthorizationPolicy }
  | { updateAuthorizationPolicy: AuthorizationPolicy }
  | { deleteAuthorizationPolicy: { namespace: string; name: string } };

/**
 * A probe as resolved: one address family (a probe spec without `family` becomes one probe per family its
 * endpoints share) and that family's expected matrix text.
 */
export type Probe = Omit<ProbeSpec, 'expected' | 'family'> & { family?: IPFamily; expected?: string };

export interface Step {
  name: string;
  actions: Action[];
  probes: Probe[];
}

export interface Scenario {
  /** Path of the scenario file as given. */
  file: string;
  name: string;
  description: string;
  /** sha256 of the resolved scenario (stable across formatting changes of the YAML). */
  hash: string;
  topology: Topology;
  /** State before step 0: namespaces, initial pods, top-level policies. */
  initial: ClusterState;
  steps: Step[];
  measurements: MeasurementSpec[];
  modes: Mode[];
  sweep?: { policies?: number[]; pods?: number[] };
}
