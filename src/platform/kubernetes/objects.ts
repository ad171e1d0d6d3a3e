// Pure manifest builders: scenario state → the Kubernetes objects a run creates (namespaces, pods,
// NetworkPolicies). No I/O; the driver (client.ts) posts them and `testbed manifests` prints them.
//
// Namespaces: on a cluster the run owns (kind) scenario names are used as they are; on a shared cluster
// (`--platform kubernetes`) every namespace carries the run prefix, and selectors on the API server's
// `kubernetes.io/metadata.name` label are rewritten to the prefixed names so policies mean what they said.
import {
  METADATA_NAME_LABEL,
  type LabelSelector,
  type NetworkPolicy,
  type Namespace,
  type Pod,
  type Protocol,
} from '../../policy/model.ts';
import { NODE_LABEL, RUN_LABEL } from './kind-config.ts';

/** agnhost from the upstream e2e image set: `serve-hostname` servers, `porter` (SCTP), `connect` probes. */
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
/** Label on every pod the run creates (the scenario's own labels stay untouched beside it). */
export const MANAGED_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_VALUE = 'policy-testbed';

export interface NamespaceMap {
  /** Scenario namespace → cluster namespace. */
  toCluster(ns: string): string;
  /** Cluster namespace → scenario namespace (undefined for namespaces the run does not own). */
  toScenario(ns: string): string | undefined;
}

export function namespaceMap(prefix: string, shared: boolean, scenarioNamespaces: string[]): NamespaceMap {
  const to = (ns: string) => (shared ? `${prefix}-${ns}` : ns);
  const back = new Map(scenarioNamespaces.map((n) => [to(n), n]));
  return {
    toCluster: to,
    toScenario: (ns) =>
      back.get(ns) ??
      (shared && ns.startsWith(`${prefix}-`) ? ns.slice(prefix.length + 1) : shared ? undefined : ns),
  };
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export function namespaceObject(ns: Namespace, map: NamespaceMap, prefix: string): KubeObject {
  // The API server sets kubernetes.io/metadata.name itself (to the cluster name); setting it differently fails.
  const labels = Object.fromEntries(Object.entries(ns.labels).filter(([k]) => k !== METADATA_NAME_LABEL));
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: map.toCluster(ns.name), labels: { ...labels, [RUN_LABEL]: prefix } },
  };
}

/** Ports a pod serves: its declared ports plus those the scenario probes or measures (traffic/plan.ts). */
export interface ServedPorts {
  tcp: number[];
  udp: number[];
  sctp?: number[];
}

export const serverContainerName = (port: number, protocol: Protocol) =>
  `serve-${port}-${protocol.toLowerCase()}`;

function serverArgs(
  port: number,
  protocol: Protocol,
): { args: string[]; env?: { name: string; value: string }[] } {
  if (protocol === 'SCTP')
    return { args: ['porter'], env: [{ name: `SERVE_SCTP_PORT_${port}`, value: 'foo' }] };
  // --http=false: a raw TCP/UDP server that answers with the hostname, as the upstream netpol e2e pods do.
  return {
    args: ['serve-hostname', protocol === 'TCP' ? '--tcp' : '--udp', '--http=false', '--port', String(port)],
  };
}

/** Container that runs probes when a pod serves nothing (every pod can be a probe source). */
export const PROBE_CONTAINER = 'probe';

/** The tools container (docker/tools.Dockerfile): the harness's probe server and traffic workers. */
export const TOOLS_CONTAINER = 'tools';
export const TOOLS_DIR = '/opt/testbed/traffic';

export function podObject(
  pod: Pod,
  serve: ServedPorts,
  map: NamespaceMap,
  image = AGNHOST_IMAGE,
  /** With a tools image, the harness's own probe server serves TCP/UDP (as on Mininet) and runs the workers. */
  toolsImage?: string,
): KubeObject {
  const pairs: { port: number; protocol: Protocol }[] = [
    ...serve.tcp.map((port) => ({ port, protocol: 'TCP' as const })),
    ...serve.udp.map((port) => ({ port, protocol: 'UDP' as const })),
    ...(serve.sctp ?? []).map((port) => ({ port, protocol: 'SCTP' as const })),
  ];
  for (const cp of pod.ports)
    if (!pairs.some((p) => p.port === cp.port && p.protocol === cp.protocol))
      pairs.push({ port: cp.port, protocol: cp.protocol });
  pairs.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  // Named ports resolve against these container ports, so the scenario's names go here.
  const portEntry = (port: number, protocol: Protocol) => {
    const declared = pod.ports.find((cp) => cp.port === port && cp.protocol === protocol);
    return { containerPort: port, protocol, ...(declared?.name ? { name: declared.name } : {}) };
  };
  const byTools = toolsImage ? pairs.filter((p) => p.protocol !== 'SCTP') : [];
  const containers: Record<string, unknown>[] = pairs
    .filter((p) => !byTools.includes(p))
    .map(({ port, protocol }) => {
      const { args, env } = serverArgs(port, protocol);
      return {
        name: serverContainerName(port, protocol),
        image,
        imagePullPolicy: 'IfNotPresent',
        args,
        ...(env ? { env } : {}),
        ports: [portEntry(port, protocol)],
      };
    });
  // Probes exec `/agnhost connect` in the first container: with no agnhost server left, a paused one does it.
  if (containers.length === 0 || toolsImage)
    containers.unshift({
      name: PROBE_CONTAINER,
      image,
      imagePullPolicy: 'IfNotPresent',
      args: ['pause'],
      ports: [],
    });
  if (toolsImage) {
    const spec = {
      id: `${pod.namespace}/${pod.name}`,
      tcp: byTools.filter((p) => p.protocol === 'TCP').map((p) => p.port),
      udp: byTools.filter((p) => p.protocol === 'UDP').map((p) => p.port),
    };
    containers.push({
      name: TOOLS_CONTAINER,
      image: toolsImage,
      imagePullPolicy: 'IfNotPresent',
      command: ['node', `${TOOLS_DIR}/probe-server.mjs`, JSON.stringify(spec)],
      ports: byTools.map((p) => portEntry(p.port, p.protocol)),
    });
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: map.toCluster(pod.namespace),
      labels: { ...pod.labels, [MANAGED_LABEL]: MANAGED_VALUE },
      // Calico honours a requested address; other CNIs ignore the annotation and the driver records the real IP.
      annotations: { 'cni.projectcalico.org/ipAddrs': JSON.stringify([pod.ip]) },
    },
    spec: {
      nodeSelector: { [NODE_LABEL]: pod.node },
      // agnhost exits on SIGTERM at once; waiting 30 s per pod would make every step that removes one slow.
      terminationGracePeriodSeconds: 0,
      containers,
    },
  };
}

/** The first container of a pod: the one probes are executed in. */
export function probeContainerOf(pod: KubeObject): string {
  const containers = (pod.spec as { containers: { name: string }[] }).containers;
  return containers[0]!.name;
}

function mapSelector(sel: LabelSelector | undefined, map: NamespaceMap): LabelSelector | undefined {
  if (!sel) return sel;
  const out: LabelSelector = {};
  if (sel.matchLabels)
    out.matchLabels = Object.fromEntries(
      Object.entries(sel.matchLabels).map(([k, v]) => [k, k === METADATA_NAME_LABEL ? map.toCluster(v) : v]),
    );
  if (sel.matchExpressions)
    out.matchExpressions = sel.matchExpressions.map((e) =>
      e.key === METADATA_NAME_LABEL && e.values ? { ...e, values: e.values.map(map.toCluster) } : e,
    );
  return out;
}

export function networkPolicyObject(p: NetworkPolicy, map: NamespaceMap): KubeObject {
  const peer = <T extends { namespaceSelector?: LabelSelector }>(x: T): T =>
    x.namespaceSelector ? { ...x, namespaceSelector: mapSelector(x.namespaceSelector, map) } : x;
  const spec = structuredClone(p.spec);
  for (const r of spec.ingress ?? []) if (r.from) r.from = r.from.map(peer);
  for (const r of spec.egress ?? []) if (r.to) r.to = r.to.map(peer);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { ...structuredClone(p.metadata), namespace: map.toCluster(p.metadata.namespace) },
    spec,
  };
}

/** Every object of one scenario state, in apply order (namespaces before what lives in them). */
export function stateObjects(
  state: { namespaces: Namespace[]; pods: Pod[]; policies: NetworkPolicy[] },
  serve: (pod: Pod) => ServedPorts,
  map: NamespaceMap,
  prefix: string,
  opts: { policies: boolean },
): KubeObject[] {
  return [
    ...state.namespaces.map((n) => namespaceObject(n, map, prefix)),
    ...state.pods.map((p) => podObject(p, serve(p), map)),
    ...(opts.policies ? state.policies.map((p) => networkPolicyObject(p, map)) : []),
  ];
}
