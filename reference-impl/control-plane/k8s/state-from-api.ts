// API objects → the control plane's desired state (pure, no I/O): the same ClusterState the Mininet harness
// hands the compiler, plus where each agent and SaP listens for config pushes. What a real cluster adds is
// partial knowledge: a pod may have no IP yet, a node no SaP, a policy a field this model does not know.
// Each such object is left out with its reason (reported, never a crash); policies go through the scenario
// loader's own schema, so an object this code cannot enforce exactly is named rather than half-applied.
import type {
  ClusterState,
  ContainerPort,
  Namespace,
  NetworkPolicy,
  NodeInfo,
  Pod,
  Protocol,
} from '../../../src/policy/model.ts';
import { formatPath } from '../../../src/scenario/load.ts';
import { networkPolicySchema } from '../../../src/scenario/schema.ts';
import type { Topology } from '../../../src/scenario/types.ts';
import { gatewaySapId, nodeSapId } from '../compile.ts';
import {
  AGENT_API_PORT,
  AGENT_CONTAINER,
  MANAGED_LABEL,
  MANAGED_VALUE,
  ROLE_LABEL,
  SAP_API_PORT,
} from '../../k8s/constants.ts';

/** The parts of a Kubernetes object this module reads (plain JSON as the API serves it). */
export interface ApiObject {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface ApiSnapshot {
  namespaces: ApiObject[];
  /** Pods carrying the opt-in label (MANAGED_LABEL=true), any namespace. */
  pods: ApiObject[];
  /** The overlay's own pods (SaPs, gateway) in its namespace. */
  components: ApiObject[];
  policies: ApiObject[];
}

export interface ApiTarget {
  kind: 'sap' | 'gateway' | 'agent';
  /** Process id as the compiler names it: `node:N`, `gw:C`, or the pod ref `ns/name`. */
  id: string;
  ip: string;
}

export interface DesiredState {
  state: ClusterState;
  topology: Pick<Topology, 'clusters'>;
  /** Process id → config API address (tcp://IP:PORT by default). */
  targets: Map<string, string>;
  invalidPolicies: { policy: string; reason: string }[];
  skippedPods: { pod: string; reason: string }[];
  /** Set when nothing can be programmed yet (no gateway SaP); the reason says what is missing. */
  waiting?: string;
}

export interface ConvertOptions {
  cluster: string;
  /** Maps a process to the address its config API is reached at (tests: unix sockets). */
  apiAddress?: (t: ApiTarget) => string;
}

export const defaultApiAddress = (t: ApiTarget): string =>
  `tcp://${t.ip}:${t.kind === 'agent' ? AGENT_API_PORT : SAP_API_PORT}`;

const ref = (o: ApiObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const cond = (o: ApiObject, type: string) =>
  ((o.status?.conditions as { type: string; status: string }[] | undefined) ?? []).find(
    (c) => c.type === type,
  )?.status === 'True';
const podIP = (o: ApiObject) => o.status?.podIP as string | undefined;
const hostIP = (o: ApiObject) => o.status?.hostIP as string | undefined;
const nodeName = (o: ApiObject) => o.spec?.nodeName as string | undefined;
const live = (o: ApiObject) =>
  !o.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(String(o.status?.phase));

/** A managed pod is served once its agent sidecar runs (started), without waiting for the app's readiness. */
function agentStarted(o: ApiObject): boolean {
  const s = (
    (o.status?.initContainerStatuses as { name: string; started?: boolean; ready?: boolean }[] | undefined) ??
    []
  ).find((c) => c.name === AGENT_CONTAINER);
  return s?.started === true || s?.ready === true || cond(o, 'Ready');
}

export function namespaceFromApi(o: ApiObject): Namespace {
  return { name: o.metadata!.name!, labels: { ...(o.metadata?.labels ?? {}) } };
}

/** Through the scenario schema: a policy is accepted exactly as the Mininet harness would accept it. */
export function policyFromApi(o: ApiObject): { policy: NetworkPolicy } | { reason: string } {
  const m = o.metadata ?? {};
  // client-node's typed list calls deserialize ingress `from` as `_from` (a reserved word in its generator);
  // watch events carry the wire name. Accept both.
  const ingress = (o.spec?.ingress as Record<string, unknown>[] | undefined)?.map(({ _from, ...rule }) =>
    _from === undefined ? rule : { ...rule, from: _from },
  );
  const candidate = JSON.parse(
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: m.name, namespace: m.namespace, labels: m.labels, annotations: m.annotations },
      spec: o.spec && { ...o.spec, ...(ingress ? { ingress } : {}) },
    }),
  ) as unknown;
  const r = networkPolicySchema.safeParse(candidate);
  if (r.success) return { policy: r.data as NetworkPolicy };
  const issue = r.error.issues[0]!;
  return { reason: `${formatPath(issue.path)}: ${issue.message}` };
}

export function podFromApi(o: ApiObject, cluster: string): Pod {
  const ports: ContainerPort[] = [];
  for (const c of (o.spec?.containers as {
    ports?: { containerPort: number; protocol?: string; name?: string }[];
  }[]) ?? [])
    for (const p of c.ports ?? [])
      ports.push({
        port: p.containerPort,
        protocol: (p.protocol ?? 'TCP') as Protocol,
        ...(p.name ? { name: p.name } : {}),
      });
  return {
    namespace: o.metadata!.namespace!,
    name: o.metadata!.name!,
    labels: { ...(o.metadata?.labels ?? {}) },
    node: nodeName(o)!,
    cluster,
    ip: podIP(o)!,
    ports,
  };
}

const byRef = (a: ApiObject, b: ApiObject) => ref(a).localeCompare(ref(b));

export function desiredFromApi(snap: ApiSnapshot, opts: ConvertOptions): DesiredState {
  const address = opts.apiAddress ?? defaultApiAddress;
  const cluster = opts.cluster;
  const targets = new Map<string, string>();
  const invalidPolicies: DesiredState['invalidPolicies'] = [];
  const skippedPods: DesiredState['skippedPods'] = [];

  // Node SaPs: one per node, its GUE and API address the node's (hostNetwork).
  const nodes: NodeInfo[] = [];
  for (const o of [...snap.components].sort(byRef)) {
    if (o.metadata?.labels?.[ROLE_LABEL] !== 'sap' || !live(o) || !cond(o, 'Ready')) continue;
    const node = nodeName(o);
    const ip = hostIP(o) ?? podIP(o);
    if (!node || !ip || nodes.some((n) => n.name === node)) continue;
    nodes.push({ name: node, cluster, ip, podCIDR: '' });
    targets.set(nodeSapId(node), address({ kind: 'sap', id: nodeSapId(node), ip }));
  }
  const gateway = [...snap.components]
    .sort(byRef)
    .find((o) => o.metadata?.labels?.[ROLE_LABEL] === 'gateway' && live(o) && cond(o, 'Ready') && podIP(o));

  const pods: Pod[] = [];
  const usedIps = new Set<string>();
  for (const o of [...snap.pods].sort(byRef)) {
    if (o.metadata?.labels?.[MANAGED_LABEL] !== MANAGED_VALUE) continue;
    const r = ref(o);
    if (!live(o)) continue;
    const ip = podIP(o);
    const node = nodeName(o);
    const why = !node
      ? 'not scheduled yet'
      : !ip
        ? 'no pod IP yet'
        : !agentStarted(o)
          ? 'overlay agent not started yet'
          : !nodes.some((n) => n.name === node)
            ? `node ${node} has no ready SaP`
            : usedIps.has(ip)
              ? `pod IP ${ip} is also claimed by another pod`
              : undefined;
    if (why) {
      skippedPods.push({ pod: r, reason: why });
      continue;
    }
    usedIps.add(ip!);
    pods.push(podFromApi(o, cluster));
    targets.set(r, address({ kind: 'agent', id: r, ip: ip! }));
  }

  const policies: NetworkPolicy[] = [];
  for (const o of [...snap.policies].sort(byRef)) {
    const r = policyFromApi(o);
    if ('policy' in r) policies.push(r.policy);
    else invalidPolicies.push({ policy: ref(o), reason: r.reason });
  }

  const namespaces = [...snap.namespaces].sort(byRef).filter(live).map(namespaceFromApi);
  // A pod whose namespace the watch has not delivered yet waits for it (selectors need its labels).
  const known = new Set(namespaces.map((n) => n.name));
  const placed = pods.filter((p) => {
    if (known.has(p.namespace)) return true;
    skippedPods.push({ pod: `${p.namespace}/${p.name}`, reason: `namespace ${p.namespace} not seen yet` });
    targets.delete(`${p.namespace}/${p.name}`);
    return false;
  });

  const gwIp = gateway ? podIP(gateway)! : '';
  if (gateway)
    targets.set(gatewaySapId(cluster), address({ kind: 'gateway', id: gatewaySapId(cluster), ip: gwIp }));
  return {
    state: { namespaces, pods: placed, nodes, externals: [], policies },
    topology: {
      clusters: [
        { name: cluster, podCIDR: '', underlayCIDR: '', gateway: gwIp, nodes: nodes.map((n) => ({ ...n })) },
      ],
    },
    targets,
    invalidPolicies,
    skippedPods,
    ...(gateway
      ? {}
      : { waiting: `no ready gateway SaP (pod labelled ${ROLE_LABEL}=gateway) in the overlay namespace` }),
  };
}

/** Canonical text of what would be compiled and where it goes: equal text → nothing to program. */
export function desiredKey(d: DesiredState): string {
  return JSON.stringify({ state: d.state, topology: d.topology, targets: [...d.targets].sort() });
}
