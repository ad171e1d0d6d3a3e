// The fake API server's object store (resources.ts lists what it holds) with resourceVersion bookkeeping,
// an event history that watches replay from, and a compaction point below which a watch gets 410 Gone — the
// same contract etcd gives the real API server. Pure data plus listeners; HTTP lives in server.ts.

import { API_VERSION, KIND, RESOURCE_INFO, RESOURCES, type Resource } from './resources.ts';

export { API_VERSION, KIND, RESOURCES, type Resource } from './resources.ts';

/** A stored object: plain JSON as the API serves it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface StoreEvent {
  type: EventType;
  resource: Resource;
  rv: number;
  object: KubeObject;
}

/** An API error with the Status body the real server sends (code, reason, message, details). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; kind?: string; group?: string },
  ) {
    super(message);
  }
  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

export const notFound = (resource: Resource, name: string) =>
  new ApiError(404, 'NotFound', `${resource}${group(resource)} "${name}" not found`, {
    name,
    kind: resource,
    ...(groupName(resource) ? { group: groupName(resource) } : {}),
  });
const groupName = (r: Resource) => RESOURCE_INFO[r].group || undefined;
const group = (r: Resource) => (groupName(r) ? `.${groupName(r)}` : '');

const WORKLOADS = new Set<Resource>(['deployments', 'daemonsets']);
const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
const clone = <T>(o: T): T => structuredClone(o);

export interface PodHooks {
  /** Pod IP for a newly created pod (default: 10.244.0.N in creation order). */
  assignPodIP?: (pod: KubeObject) => string;
  /** Node IP for a pod (default: 172.18.0.2). */
  assignHostIP?: (pod: KubeObject) => string;
  /** Mark pods Running + Ready right after create (default true); false: call store.setPodReady(). */
  autoReady?: boolean;
}

export class FakeStore {
  /** Last resourceVersion handed out (a single counter across kinds, like etcd's revision). */
  rv = 0;
  /** Watches from a resourceVersion below this get 410 Gone. */
  compactedRv = 0;
  private readonly objects = new Map<Resource, Map<string, KubeObject>>(RESOURCES.map((r) => [r, new Map()]));
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private ipSeq = 0;
  private uidSeq = 0;

  constructor(readonly hooks: PodHooks = {}) {}

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Events after `rv` (exclusive), for a watch starting there; throws 410 when that history is compacted. */
  eventsSince(rv: number): StoreEvent[] {
    if (rv < this.compactedRv)
      throw new ApiError(410, 'Expired', `too old resource version: ${rv} (${this.compactedRv})`);
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets history up to now: every watch resumed from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  list(resource: Resource, namespace?: string): KubeObject[] {
    const out = [...this.objects.get(resource)!.values()].filter(
      (o) => namespace === undefined || o.metadata.namespace === namespace,
    );
    return out
      .map(clone)
      .sort((a, b) =>
        key(a.metadata.namespace, a.metadata.name!).localeCompare(
          key(b.metadata.namespace, b.metadata.name!),
        ),
      );
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject {
    const o = this.objects.get(resource)!.get(key(namespace, name));
    if (!o) throw notFound(resource, name);
    return clone(o);
  }

  create(resource: Resource, namespace: string | undefined, body: KubeObject): KubeObject {
    const o = clone(body);
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName)
      o.metadata.name = `${o.metadata.generateName}${(++this.uidSeq).toString(36)}`;
    const name = o.metadata.name;
    if (!name)
      throw new ApiError(
        422,
        'Invalid',
        `${KIND[resource]} is invalid: metadata.name: Required value: name or generateName is required`,
      );
    if (namespace !== undefined) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== namespace)
        throw new ApiError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      if (!this.objects.get('namespaces')!.has(key(undefined, namespace)))
        throw notFound('namespaces', namespace);
      o.metadata.namespace = namespace;
    }
    const table = this.objects.get(resource)!;
    if (table.has(key(namespace, name)))
      throw new ApiError(409, 'AlreadyExists', `${resource}${group(resource)} "${name}" already exists`, {
        name,
        kind: resource,
        ...(groupName(resource) ? { group: groupName(resource) } : {}),
      });
    o.apiVersion = API_VERSION[resource];
    o.kind = KIND[resource];
    o.metadata.uid = `uid-${++this.uidSeq}`;
    o.metadata.creationTimestamp = new Date(0).toISOString();
    if (resource === 'namespaces') {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
      o.status = { phase: 'Active' };
    }
    if (o.spec !== undefined) o.metadata.generation = 1;
    if (resource === 'pods') this.initPod(o);
    const stored = this.put(resource, o, 'ADDED');
    if (this.hooks.autoReady === false) return stored;
    if (resource === 'pods') return this.setPodReady(namespace!, name, true);
    if (WORKLOADS.has(resource)) return this.setWorkloadReady(resource, namespace!, name);
    return stored;
  }

  /**
   * Test hook: a Deployment or DaemonSet reports every replica ready at its current generation (the fake runs
   * no controllers; a DaemonSet counts one node).
   */
  setWorkloadReady(resource: Resource, namespace: string, name: string): KubeObject {
    const cur = this.get(resource, namespace, name);
    const generation = cur.metadata.generation as number | undefined;
    const n = resource === 'deployments' ? ((cur.spec?.replicas as number | undefined) ?? 1) : 1;
    const status =
      resource === 'deployments'
        ? {
            observedGeneration: generation,
            replicas: n,
            updatedReplicas: n,
            readyReplicas: n,
            availableReplicas: n,
            conditions: [{ type: 'Available', status: 'True' }],
          }
        : {
            observedGeneration: generation,
            currentNumberScheduled: n,
            desiredNumberScheduled: n,
            numberReady: n,
            numberAvailable: n,
            updatedNumberScheduled: n,
            numberMisscheduled: 0,
          };
    return this.put(resource, { ...cur, status }, 'MODIFIED');
  }

  /** Replaces an object; a body carrying a resourceVersion other than the stored one is a 409 Conflict. */
  replace(
    resource: Resource,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    opts: { status?: boolean } = {},
  ): KubeObject {
    const cur = this.get(resource, namespace, name);
    const rv = body.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== cur.metadata.resourceVersion)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource}${group(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, kind: resource },
      );
    if (body.metadata?.name !== undefined && body.metadata.name !== name)
      throw new ApiError(
        400,
        'BadRequest',
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    const next = clone(body);
    // The status subresource changes only status; the main resource never changes status (as the API server).
    if (opts.status) {
      const merged = { ...cur, status: next.status };
      return this.put(resource, merged, 'MODIFIED');
    }
    next.metadata = {
      ...next.metadata,
      name,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
    };
    if (namespace !== undefined) next.metadata.namespace = namespace;
    next.apiVersion = API_VERSION[resource];
    next.kind = KIND[resource];
    if (cur.status !== undefined) next.status = cur.status;
    else delete next.status;
    const gen = cur.metadata.generation as number | undefined;
    if (gen !== undefined)
      next.metadata.generation = JSON.stringify(next.spec) === JSON.stringify(cur.spec) ? gen : gen + 1;
    if (resource === 'namespaces')
      next.metadata.labels = { ...(next.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
    const stored = this.put(resource, next, 'MODIFIED');
    // A rollout of a new generation completes at once.
    if (WORKLOADS.has(resource) && this.hooks.autoReady !== false && next.metadata.generation !== gen)
      return this.setWorkloadReady(resource, namespace!, name);
    return stored;
  }

  /** Deletes an object (a namespace takes its pods and policies with it, without a Terminating phase). */
  delete(resource: Resource, namespace: string | undefined, name: string): KubeObject {
    const cur = this.get(resource, namespace, name);
    if (resource === 'namespaces')
      for (const r of RESOURCES.filter((x) => RESOURCE_INFO[x].namespaced))
        for (const o of this.list(r, name)) this.delete(r, name, o.metadata.name!);
    this.objects.get(resource)!.delete(key(namespace, name));
    const rv = ++this.rv;
    cur.metadata.resourceVersion = String(rv);
    this.emit({ type: 'DELETED', resource, rv, object: clone(cur) });
    return cur;
  }

  /** Test hook: a pod becomes Running and Ready (or not Ready), as the kubelet would report it. */
  setPodReady(namespace: string, name: string, ready: boolean): KubeObject {
    const cur = this.get('pods', namespace, name);
    const status = { ...(cur.status ?? {}) } as Record<string, unknown>;
    status.phase = ready ? 'Running' : (status.phase ?? 'Pending');
    const t = new Date(0).toISOString();
    status.conditions = [
      { type: 'Initialized', status: 'True', lastTransitionTime: t },
      { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: t },
      { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: t },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
    ];
    const containers = (cur.spec?.containers as { name: string; image?: string }[] | undefined) ?? [];
    status.containerStatuses = containers.map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready,
      restartCount: 0,
      started: ready,
      state: ready ? { running: { startedAt: t } } : { waiting: { reason: 'ContainerCreating' } },
    }));
    // Native sidecars (init containers with restartPolicy Always) report started/ready like containers;
    // plain init containers have terminated by the time the pod runs.
    const inits =
      (cur.spec?.initContainers as { name: string; image?: string; restartPolicy?: string }[] | undefined) ??
      [];
    if (inits.length > 0)
      status.initContainerStatuses = inits.map((c) => {
        const sidecar = c.restartPolicy === 'Always';
        return {
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: sidecar ? ready : true,
          restartCount: 0,
          started: sidecar ? ready : false,
          state: sidecar
            ? ready
              ? { running: { startedAt: t } }
              : { waiting: { reason: 'PodInitializing' } }
            : { terminated: { exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t } },
        };
      });
    return this.put('pods', { ...cur, status }, 'MODIFIED');
  }

  private initPod(o: KubeObject): void {
    const spec = (o.spec ??= {});
    const sel = spec.nodeSelector as Record<string, string> | undefined;
    spec.nodeName ??= sel?.['testbed.io/node'] ?? 'fake-node';
    const podIP =
      this.hooks.assignPodIP?.(o) ?? `10.244.${Math.floor(++this.ipSeq / 250)}.${(this.ipSeq % 250) + 1}`;
    const hostIP = this.hooks.assignHostIP?.(o) ?? '172.18.0.2';
    o.status = {
      phase: 'Pending',
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP,
      podIPs: [{ ip: podIP }],
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      qosClass: 'BestEffort',
    };
  }

  private put(resource: Resource, o: KubeObject, type: EventType): KubeObject {
    const rv = ++this.rv;
    o.metadata.resourceVersion = String(rv);
    this.objects.get(resource)!.set(key(o.metadata.namespace, o.metadata.name!), clone(o));
    this.emit({ type, resource, rv, object: clone(o) });
    return clone(o);
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    for (const l of this.listeners) l(e);
  }
}
