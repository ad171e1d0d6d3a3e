// Kubernetes networking.k8s.io/v1 NetworkPolicy and the cluster state the engine reasons about.
// Plain data only: the scenario loader produces it, the engine, compilers and enforcers consume it.

import type { AuthorizationPolicy } from './authz/model.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export type Labels = Record<string, string>;

/** An address family, spelled as Kubernetes spells `ipFamilies`. */
export type IPFamily = 'IPv4' | 'IPv6';
export const IP_FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: Protocol;
  /** A number, or the name of a container port of the destination pod. */
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export type PolicyType = 'Ingress' | 'Egress';

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace: string; labels?: Labels; annotations?: Record<string, string> };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: PolicyType[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}

export interface ContainerPort {
  port: number;
  protocol: Protocol;
  name?: string;
}

export interface Namespace {
  name: string;
  /** Includes the implied `kubernetes.io/metadata.name` label. */
  labels: Labels;
}

export interface Pod {
  namespace: string;
  name: string;
  labels: Labels;
  /** Node name (unique across the scenario); the node determines the cluster. */
  node: string;
  cluster: string;
  /** The pod's primary address (its cluster's first family), as `status.podIP`. */
  ip: string;
  /**
   * Every address of the pod, one per family, primary first (as `status.podIPs`); absent means `[ip]`.
   * Read through addressesOf/addressFor (family.ts) rather than directly.
   */
  ips?: string[];
  ports: ContainerPort[];
  /** Kubernetes service account (absent means `default`); the mesh identity is cluster.local/ns/<ns>/sa/<sa>. */
  serviceAccount?: string;
  /** false: no sidecar is injected (under +l7 modes the pod sends plaintext and nothing enforces L7 for it). */
  sidecar?: boolean;
}

export interface NodeInfo {
  name: string;
  cluster: string;
  /** The node's underlay address (traffic from it to its own pods is always allowed). */
  ip: string;
  /** Every underlay address, one per family, primary first; absent means `[ip]`. */
  ips?: string[];
  podCIDR: string;
  /** The node's pod CIDRs, one per family, primary first (as `spec.podCIDRs`); absent means `[podCIDR]`. */
  podCIDRs?: string[];
}

export interface ExternalHost {
  name: string;
  ip: string;
  /** Every address, one per family, primary first; absent means `[ip]`. */
  ips?: string[];
}

/**
 * Everything the engine needs at one moment of a scenario. Kubernetes semantics: every cluster enforces the
 * same namespaces' policies ("namespace sameness"), selectors match pods of the enforcing cluster only, and
 * endpoints outside it (other clusters' pods, external hosts) can be matched by ipBlock only.
 */
export interface ClusterState {
  namespaces: Namespace[];
  pods: Pod[];
  nodes: NodeInfo[];
  externals: ExternalHost[];
  policies: NetworkPolicy[];
  /** Istio AuthorizationPolicies (src/policy/authz/); absent means none. */
  authorizationPolicies?: AuthorizationPolicy[];
  /** Istio's root namespace, whose policies apply to every namespace; absent means `istio-system`. */
  meshRootNamespace?: string;
}

/** Endpoint references: `ns/pod`, `ext:name` (unmanaged host) or `node:name`. */
export type EndpointRef = string;

export interface Flow {
  from: EndpointRef;
  to: EndpointRef;
  /** Numeric port, or a named port resolved against the destination pod. */
  port: number | string;
  protocol: Protocol;
  /**
   * The connection's address family: policy sees the source and destination addresses of this family only.
   * Absent: the first family (IPv4, then IPv6) both endpoints have.
   */
  family?: IPFamily;
}

export const METADATA_NAME_LABEL = 'kubernetes.io/metadata.name';
