// A scenario's pods on one or more Kubernetes clusters, behind the same Network interface as Mininet. Hosts are
// pods (`ns/pod`, scenario names); programs run in them by exec; probes are agnhost connect by exec.
// Nodes, external hosts and the inter-cluster router of the Mininet topology have no counterpart here: cells
// with them are reported as unsupported on this platform, never as pass or fail.
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import { UsageError } from '../../errors.ts';
import type { Labels, NetworkPolicy, Pod } from '../../policy/model.ts';
import type { Topology } from '../../scenario/types.ts';
import type {
  ExecOptions,
  ExecResult,
  HostName,
  Network,
  PlatformProbe,
  PlatformProbeAnswer,
  ServedPorts,
} from '../platform.ts';
import { cmdline } from '../runstate.ts';
import { registerLive, unregisterLive } from '../mininet/live.ts';
import type { CniInfo } from './cni.ts';
import type { KubeClient } from './client.ts';
import { ExecError } from './exec-types.ts';
import { NODE_LABEL, RUN_LABEL } from './kind-config.ts';
import {
  namespaceMap,
  namespaceObject,
  networkPolicyObject,
  podObject,
  probeContainerOf,
  type KubeObject,
  type NamespaceMap,
} from './objects.ts';
import { probeByExec } from './probe.ts';
import { kubectlExecArgv, toolsCommand } from './tools.ts';
import { waitPods } from './ready.ts';
import { removeKubeState, writeKubeState, type KubeRunState } from './state.ts';

export interface ClusterConn {
  /** Topology cluster name. */
  name: string;
  client: KubeClient;
  /** For `kubectl exec` (long-running programs in pods): the kubeconfig file and context of this cluster. */
  kubeconfig?: string;
  context?: string;
}

export interface KubeNetworkOptions {
  prefix: string;
  platform: 'kind' | 'kubernetes';
  topology: Topology;
  pods: Pod[];
  serve?: (pod: Pod) => ServedPorts;
  clusters: ClusterConn[];
  /** A cluster the run does not own: namespaces carry the prefix and only they are deleted. */
  shared: boolean;
  cni: CniInfo;
  state: Omit<KubeRunState, 'namespaces' | 'prefix' | 'owner' | 'platform' | 'startedAt'>;
  /** Removes the clusters themselves (kind); namespaces are removed by the network. */
  destroyClusters?: () => Promise<void>;
  /** Check that the topology's nodes exist as labelled cluster nodes (default: on shared clusters). */
  checkNodes?: boolean;
  /** The testbed tools image (docker/tools.Dockerfile): pods then run the harness's probe server and workers. */
  toolsImage?: string;
  /** Makes a locally built image available to the cluster's nodes (kind load docker-image). */
  loadImage?: (image: string) => Promise<void>;
  /** Rewrites a pod manifest before it is created (the overlay's agent injection, like a mutating webhook). */
  mutatePod?: (pod: KubeObject) => KubeObject;
}

interface LivePod {
  pod: Pod;
  ip: string;
  container: string;
  labels: Labels;
}

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export class KubernetesNetwork implements Network {
  /** Lets the enforcer registry recognise this network without importing the client library. */
  readonly kubernetes = true as const;
  readonly prefix: string;
  readonly topology: Topology;
  readonly map: NamespaceMap;
  readonly cni: CniInfo;
  readonly platformName: 'kind' | 'kubernetes';
  private readonly pods = new Map<HostName, LivePod>();
  private readonly nsLabels = new Map<string, Labels>();
  /** `kubectl exec` children started by spawn(), ended on down(). */
  private readonly spawned = new Set<ChildProcess>();
  /** Objects outside the run's namespaces (the overlay's components), deleted in reverse on down(). */
  private readonly extraObjects: { cluster: string; obj: KubeObject }[] = [];
  /** Their namespaces (already cluster names), recorded for cleanup. */
  private readonly extraNamespaces: string[] = [];
  private readonly clusters: Map<string, ClusterConn>;
  private downPromise?: Promise<void>;
  mutatePod?: (pod: KubeObject) => KubeObject;

  private constructor(private readonly opts: KubeNetworkOptions) {
    this.prefix = opts.prefix;
    this.topology = opts.topology;
    this.cni = opts.cni;
    this.platformName = opts.platform;
    this.mutatePod = opts.mutatePod;
    this.clusters = new Map(opts.clusters.map((c) => [c.name, c]));
    const namespaces = [...new Set(opts.pods.map((p) => p.namespace))];
    this.map = namespaceMap(opts.prefix, opts.shared, namespaces);
  }

  /**
   * Namespaces first in every cluster, then the pods, then one Watch per namespace for readiness. Namespace
   * labels are cluster state like pod labels: the enforcer's apply(state) sets them.
   */
  static async up(opts: KubeNetworkOptions): Promise<KubernetesNetwork> {
    const net = new KubernetesNetwork({ ...opts });
    const namespaces = [...new Set(opts.pods.map((p) => p.namespace))]
      .sort()
      .map((name) => ({ name, labels: {} as Labels }));
    registerLive(net);
    try {
      net.saveState(namespaces.map((n) => n.name));
      await net.checkNodes();
      for (const c of net.clusters.values())
        for (const ns of namespaces)
          await c.client.createNamespace(namespaceObject(ns, net.map, opts.prefix), RUN_LABEL);
      for (const ns of namespaces) net.nsLabels.set(ns.name, ns.labels);
      await net.createPods(opts.pods);
    } catch (e) {
      await net.down().catch(() => undefined);
      throw e;
    }
    return net;
  }

  /** On a cluster we did not make, every topology node must exist as a node labelled testbed.io/node=<name>. */
  private async checkNodes(): Promise<void> {
    if (!(this.opts.checkNodes ?? this.opts.shared)) return;
    for (const cl of this.topology.clusters) {
      const c = this.conn(cl.name);
      const labelled = await c.client.listNodeLabels(NODE_LABEL);
      const missing = cl.nodes.map((n) => n.name).filter((n) => !labelled.has(n));
      if (missing.length)
        throw new UsageError(
          `cluster ${c.client.server()} has no node labelled ${NODE_LABEL}=${missing.join(', =')}: label one node per topology node, e.g. kubectl label node NODE ${NODE_LABEL}=${missing[0]}`,
        );
    }
  }

  private conn(cluster: string): ClusterConn {
    const c =
      this.clusters.get(cluster) ?? (this.clusters.size === 1 ? [...this.clusters.values()][0] : undefined);
    if (!c) throw new Error(`no connection to cluster ${cluster} in run ${this.prefix}`);
    return c;
  }

  private manifest(p: Pod): KubeObject {
    const obj = podObject(
      p,
      this.opts.serve?.(p) ?? { tcp: [], udp: [] },
      this.map,
      undefined,
      this.opts.toolsImage,
    );
    return this.mutatePod ? this.mutatePod(obj) : obj;
  }

  private async createPods(pods: Pod[]): Promise<void> {
    const objs = pods.map((p) => ({ p, obj: this.manifest(p) }));
    for (const { p, obj } of objs) await this.conn(p.cluster).client.createPod(obj);
    // One watch per (cluster, namespace), all at once.
    const groups = new Map<string, { cluster: string; ns: string; pods: { p: Pod; obj: KubeObject }[] }>();
    for (const x of objs) {
      const k = `${x.p.cluster}\u0000${x.p.namespace}`;
      if (!groups.has(k)) groups.set(k, { cluster: x.p.cluster, ns: x.p.namespace, pods: [] });
      groups.get(k)!.pods.push(x);
    }
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const ips = await waitPods(
          this.conn(g.cluster).client,
          this.map.toCluster(g.ns),
          g.pods.map((x) => x.p.name),
          'ready',
        );
        for (const { p, obj } of g.pods)
          this.pods.set(podRef(p), {
            pod: p,
            ip: ips.get(p.name)!,
            container: probeContainerOf(obj),
            labels: { ...p.labels },
          });
      }),
    );
  }

  hosts(): HostName[] {
    return [...this.pods.keys()];
  }

  pid(host: HostName): number {
    throw new Error(`${host}: hosts on ${this.platformName} are pods, not local processes (no PID to enter)`);
  }

  address(host: HostName): string {
    const p = this.pods.get(host);
    if (!p)
      throw new Error(
        `no pod '${host}' in run ${this.prefix} (nodes and external hosts are not modelled on ${this.platformName})`,
      );
    return p.ip;
  }

  /** The pod's real address next to the one the scenario planned (they differ unless the CNI honoured it). */
  addressPlan(): { host: HostName; planned: string; actual: string }[] {
    return [...this.pods].map(([host, p]) => ({ host, planned: p.pod.ip, actual: p.ip }));
  }

  private live(host: HostName): LivePod {
    if (this.downPromise) throw new Error(`network ${this.prefix} is down`);
    const p = this.pods.get(host);
    if (!p) throw new Error(`no pod '${host}' in run ${this.prefix}`);
    return p;
  }

  async exec(host: HostName, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (opts.input)
      throw new Error(`exec on ${this.platformName} passes no stdin (asked for ${argv[0]} in ${host})`);
    const p = this.live(host);
    const where = this.where(host, argv);
    const r = await this.conn(p.pod.cluster).client.exec(
      this.map.toCluster(p.pod.namespace),
      p.pod.name,
      where.container,
      where.argv,
      opts.timeoutMs ?? 60_000,
    );
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, ...(r.timedOut ? { timedOut: true } : {}) };
  }

  /** The harness's workers run in the tools container (tools.ts); anything else in the probe container. */
  private where(host: HostName, argv: string[]): { container: string; argv: string[] } {
    const t = toolsCommand(argv);
    if (!t) return { container: this.live(host).container, argv };
    if (!this.opts.toolsImage)
      throw new Error(
        `${argv[1] ?? argv[0]} in ${host}: measurements on ${this.platformName} need the tools image in the pods (--tools-image, built from docker/tools.Dockerfile)`,
      );
    return t;
  }

  /** A long-running program in a pod, through `kubectl exec` (the local child stands for the remote process). */
  spawn(host: HostName, argv: string[]): ChildProcess {
    const p = this.live(host);
    const c = this.conn(p.pod.cluster);
    const where = this.where(host, argv);
    const child = spawnProcess(
      'kubectl',
      kubectlExecArgv({
        kubeconfig: c.kubeconfig,
        context: c.context,
        namespace: this.map.toCluster(p.pod.namespace),
        pod: p.pod.name,
        container: where.container,
        argv: where.argv,
      }),
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stdin!.on('error', () => undefined);
    this.spawned.add(child);
    child.once('exit', () => this.spawned.delete(child));
    return child;
  }

  probe(targets: PlatformProbe[], opts: { timeoutMs: number }): Promise<PlatformProbeAnswer[]> {
    return probeByExec(
      {
        execTarget: (host) => {
          const p = this.pods.get(host);
          if (!p)
            return {
              unsupported: `${host} is not a pod: nodes and external hosts are not modelled on ${this.platformName}`,
            };
          const client = this.conn(p.pod.cluster).client;
          return {
            run: (argv, ms) =>
              client.exec(this.map.toCluster(p.pod.namespace), p.pod.name, p.container, argv, ms),
          };
        },
        unsupported: (from, to, protocol) => {
          const a = this.pods.get(from)?.pod.cluster;
          const b = this.pods.get(to)?.pod.cluster;
          if (!this.pods.has(to))
            return `${to} is not a pod: nodes and external hosts are not modelled on ${this.platformName}`;
          if (a && b && a !== b)
            return `pods of different clusters (${a}, ${b}) are not routed to each other on ${this.platformName}`;
          if (protocol === 'SCTP' && process.env.TESTBED_K8S_SCTP !== '1')
            return 'SCTP probes need the sctp module on the nodes: set TESTBED_K8S_SCTP=1 to try';
          return undefined;
        },
      },
      targets,
      opts,
    ).then((answers) =>
      // An exec that failed because the pod is gone is still an error cell; but name the pod so it is findable.
      answers.map((a, i) =>
        a.outcome === 'error' ? { ...a, detail: `${targets[i]!.from}: ${a.detail}` } : a,
      ),
    );
  }

  async addPod(pod: Pod): Promise<void> {
    if (this.downPromise) throw new Error(`network ${this.prefix} is down`);
    await this.createPods([pod]);
  }

  async removePod(ref: HostName): Promise<void> {
    const p = this.live(ref);
    const c = this.conn(p.pod.cluster).client;
    const ns = this.map.toCluster(p.pod.namespace);
    await c.deletePod(ns, p.pod.name);
    await waitPods(c, ns, [p.pod.name], 'gone', 120_000);
    this.pods.delete(ref);
  }

  /** Recreates every pod through `mutatePod` (how a mesh is enabled on running workloads: restart them). */
  async recreatePods(): Promise<void> {
    const pods = [...this.pods.values()].map((p) => ({ ...p.pod, labels: p.labels }));
    for (const p of pods) await this.removePod(podRef(p));
    await this.createPods(pods);
  }

  /** Merge patch of a pod's labels: keys it no longer has are sent as null (removed). */
  async setPodLabels(ref: HostName, labels: Labels): Promise<void> {
    const p = this.live(ref);
    const patch: Record<string, string | null> = { ...labels };
    for (const k of Object.keys(p.labels)) if (!(k in labels)) patch[k] = null;
    await this.conn(p.pod.cluster).client.setPodLabels(
      this.map.toCluster(p.pod.namespace),
      p.pod.name,
      patch,
    );
    p.labels = { ...labels };
  }

  /** Makes a namespace exist (in every cluster) with exactly these labels. */
  async ensureNamespace(ns: string, labels: Labels): Promise<void> {
    if (!this.nsLabels.has(ns)) {
      for (const c of this.clusters.values())
        await c.client.createNamespace(
          namespaceObject({ name: ns, labels }, this.map, this.prefix),
          RUN_LABEL,
        );
      this.nsLabels.set(ns, labels);
      this.saveState([...this.nsLabels.keys()]);
      return;
    }
    await this.setNamespaceLabels(ns, labels);
  }

  async setNamespaceLabels(ns: string, labels: Labels): Promise<void> {
    const old = this.nsLabels.get(ns) ?? {};
    const obj = namespaceObject({ name: ns, labels }, this.map, this.prefix);
    const patch: Record<string, string | null> = { ...obj.metadata.labels };
    for (const k of Object.keys(old)) if (!(k in patch)) patch[k] = null;
    for (const c of this.clusters.values()) await c.client.setNamespaceLabels(this.map.toCluster(ns), patch);
    this.nsLabels.set(ns, labels);
  }

  /** Namespace sameness: every cluster holds every policy. */
  async putPolicy(p: NetworkPolicy, how: 'create' | 'update'): Promise<void> {
    const obj = networkPolicyObject(p, this.map);
    for (const c of this.clusters.values())
      await (how === 'create' ? c.client.createPolicy(obj) : c.client.replacePolicy(obj));
  }

  async deletePolicy(namespace: string, name: string): Promise<void> {
    for (const c of this.clusters.values()) await c.client.deletePolicy(this.map.toCluster(namespace), name);
  }

  /**
   * Deploys the reference overlay into every cluster: its generated control plane, SaPs and gateway, then
   * every workload pod recreated with the agent injected (how a mesh is enabled on running workloads), and the
   * hook kept so pods added later are injected at creation. On kind, kindnet's policy controller is switched
   * off first so the CNI does not enforce the same policies (see enforce/kubernetes-overlay.ts).
   */
  async deployOverlay(): Promise<void> {
    const { loadOverlayManifests } = await import('./overlay.ts');
    const ov = await loadOverlayManifests(this.prefix);
    if (this.platformName === 'kind') {
      if (this.cni.name !== 'kindnet')
        throw new UsageError(
          `mode overlay on kind needs --cni kindnet (its policy controller can be switched off); ${this.cni.name} would enforce the same NetworkPolicies`,
        );
      for (const c of this.clusters.values())
        if (!(await c.client.disableKindnetPolicy()))
          throw new Error(
            `cluster ${c.name}: kube-system/kindnet is not kind's kindnetd; cannot switch its enforcement off`,
          );
      (this as { cni: CniInfo }).cni = { ...this.cni, enforcesNetworkPolicy: false };
      await this.opts.loadImage?.(ov.image);
    }
    for (const c of this.clusters.values())
      for (const obj of ov.controlPlane(c.name)) {
        // Recorded first: cluster-scoped RBAC and the overlay's namespace must go again on down(), even midway.
        this.extraObjects.push({ cluster: c.name, obj });
        if (obj.kind === 'Namespace') this.extraNamespaces.push(obj.metadata.name);
        this.saveState([...this.nsLabels.keys()]);
        await c.client.createObject(obj);
      }
    this.mutatePod = (pod) => ov.injectAgent(pod);
    await this.recreatePods();
  }

  /** Any one cluster's client, for components (the overlay) deployed per cluster. */
  clients(): ClusterConn[] {
    return [...this.clusters.values()];
  }

  down(): Promise<void> {
    this.downPromise ??= this.doDown();
    return this.downPromise;
  }

  private async doDown(): Promise<void> {
    const errors: string[] = [];
    for (const c of this.spawned) c.kill('SIGTERM');
    try {
      if (this.opts.destroyClusters) await this.opts.destroyClusters();
      else {
        for (const { cluster, obj } of [...this.extraObjects].reverse())
          await this.conn(cluster)
            .client.deleteObject(obj)
            .catch((e: Error) => errors.push(e.message));
        for (const c of this.clusters.values())
          for (const ns of this.nsLabels.keys())
            await c.client
              .deleteNamespace(this.map.toCluster(ns))
              .catch((e: Error) => errors.push(e.message));
      }
    } finally {
      this.pods.clear();
      if (errors.length === 0) removeKubeState(this.prefix);
      unregisterLive(this);
    }
    if (errors.length)
      throw new Error(
        `teardown of run ${this.prefix} left something behind (testbed cleanup --kubernetes retries): ${errors.join('; ')}`,
      );
  }

  /** No synchronous way to reach an API server: the state file lets `testbed cleanup` finish the job. */
  emergencyCleanup(): void {
    for (const c of this.spawned) c.kill('SIGKILL');
    unregisterLive(this);
  }

  private saveState(namespaces: string[]): void {
    writeKubeState({
      ...this.opts.state,
      prefix: this.prefix,
      platform: this.platformName,
      owner: { pid: process.pid, marker: (cmdline(process.pid) ?? process.argv.join(' ')).slice(0, 200) },
      namespaces: [...namespaces.map((n) => this.map.toCluster(n)), ...this.extraNamespaces],
      startedAt: new Date().toISOString(),
    });
  }
}

export function isKubernetesNetwork(net: Network): net is KubernetesNetwork {
  return (net as { kubernetes?: boolean }).kubernetes === true;
}

export { ExecError };
