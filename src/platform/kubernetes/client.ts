// All API traffic of the Kubernetes platform, through @kubernetes/client-node 1.4 (calls take one object;
// merge patches carry their content type through setHeaderOptions). Every call has a time limit that names
// what it waited for; 404 on delete and 409 on create are handled where they mean something.
import {
  ApiException,
  AppsV1Api,
  KubernetesObjectApi,
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  PatchStrategy,
  VersionApi,
  Watch,
  setHeaderOptions,
  type V1NetworkPolicy,
  type V1Pod,
} from '@kubernetes/client-node';
// Not re-exported from the package root, but the package has no exports map, so the deep path is stable for 1.4.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import type { KubeObject } from './objects.ts';

/**
 * Wire JSON → client-node's typed model. Needed: the generated serializer reads TypeScript field names, and
 * some differ from the wire (`from` is `_from`), so a plain object would lose an ingress rule's peers and
 * turn "allow from X" into "allow from everyone".
 */
export function typed<T>(obj: KubeObject, type: 'V1Namespace' | 'V1Pod' | 'V1NetworkPolicy'): T {
  return ObjectSerializer.deserialize(obj, type, '') as T;
}

export const API_TIMEOUT_MS = 20_000;

export class TimeoutError extends Error {}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export function statusCode(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** The API server's own message for a failed call (its Status body), else the error's message. */
export function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? safeJSON(e.body) : e.body;
    const msg = (body as { message?: string } | undefined)?.message;
    return `HTTP ${e.code}${msg ? `: ${msg}` : ''}`;
  }
  return (e as Error).message;
}

function safeJSON(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s.slice(0, 200) };
  }
}

export { ExecError, type ExecOutcome } from './exec-types.ts';
import type { ExecOutcome } from './exec-types.ts';
import { execInPod } from './exec.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeClient {
  readonly core: CoreV1Api;
  readonly net: NetworkingV1Api;
  readonly authz: AuthorizationV1Api;
  readonly version: VersionApi;
  readonly apps: AppsV1Api;
  private objects?: KubernetesObjectApi;
  private readonly watcher: Watch;
  private readonly execer: Exec;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.net = kc.makeApiClient(NetworkingV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    this.version = kc.makeApiClient(VersionApi);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.watcher = new Watch(kc);
    this.execer = new Exec(kc);
  }

  server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(no server in kubeconfig)';
  }

  async serverVersion(timeoutMs = 5000): Promise<string> {
    const v = await withTimeout(this.version.getCode(), timeoutMs, `API server ${this.server()}`);
    return v.gitVersion;
  }

  /** Creates a namespace; one that already exists is an error unless it carries our run label (a retry). */
  async createNamespace(obj: KubeObject, runLabel: string): Promise<void> {
    try {
      await withTimeout(
        this.core.createNamespace({ body: typed(obj, 'V1Namespace') }),
        API_TIMEOUT_MS,
        `creating namespace ${obj.metadata.name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 409) throw new Error(`creating namespace ${obj.metadata.name}: ${apiMessage(e)}`);
      const cur = await this.core.readNamespace({ name: obj.metadata.name });
      const want = obj.metadata.labels?.[runLabel];
      if (cur.metadata?.labels?.[runLabel] !== want)
        throw new Error(
          `namespace ${obj.metadata.name} already exists and is not this run's (label ${runLabel}=${want} missing): pick another prefix or remove it`,
        );
    }
  }

  /** Deletes a namespace; an absent one is fine (already gone). */
  async deleteNamespace(name: string): Promise<void> {
    try {
      await withTimeout(this.core.deleteNamespace({ name }), API_TIMEOUT_MS, `deleting namespace ${name}`);
    } catch (e) {
      if (statusCode(e) !== 404) throw new Error(`deleting namespace ${name}: ${apiMessage(e)}`);
    }
  }

  async listNamespaces(labelSelector: string): Promise<string[]> {
    const l = await withTimeout(
      this.core.listNamespace({ labelSelector }),
      API_TIMEOUT_MS,
      'listing namespaces',
    );
    return l.items.map((n) => n.metadata!.name!);
  }

  /** Replaces labels through a merge patch: keys no longer wanted are set to null, which removes them. */
  async setNamespaceLabels(name: string, labels: Record<string, string | null>): Promise<void> {
    await withTimeout(
      this.core.patchNamespace({ name, body: { metadata: { labels } } }, mergePatch),
      API_TIMEOUT_MS,
      `patching labels of namespace ${name}`,
    );
  }

  async createPod(obj: KubeObject): Promise<V1Pod> {
    try {
      return await withTimeout(
        this.core.createNamespacedPod({ namespace: obj.metadata.namespace!, body: typed(obj, 'V1Pod') }),
        API_TIMEOUT_MS,
        `creating pod ${obj.metadata.namespace}/${obj.metadata.name}`,
      );
    } catch (e) {
      if (e instanceof TimeoutError) throw e;
      throw new Error(`creating pod ${obj.metadata.namespace}/${obj.metadata.name}: ${apiMessage(e)}`);
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await withTimeout(
        this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }),
        API_TIMEOUT_MS,
        `deleting pod ${namespace}/${name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 404) throw new Error(`deleting pod ${namespace}/${name}: ${apiMessage(e)}`);
    }
  }

  async setPodLabels(namespace: string, name: string, labels: Record<string, string | null>): Promise<void> {
    await withTimeout(
      this.core.patchNamespacedPod({ namespace, name, body: { metadata: { labels } } }, mergePatch),
      API_TIMEOUT_MS,
      `patching labels of pod ${namespace}/${name}`,
    );
  }

  async listPods(
    namespace: string,
    labelSelector?: string,
  ): Promise<{ items: V1Pod[]; resourceVersion: string }> {
    const l = await withTimeout(
      this.core.listNamespacedPod({ namespace, labelSelector }),
      API_TIMEOUT_MS,
      `listing pods in ${namespace}`,
    );
    return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '0' };
  }

  async listNodeLabels(label: string): Promise<Map<string, string>> {
    const l = await withTimeout(
      this.core.listNode({ labelSelector: label }),
      API_TIMEOUT_MS,
      'listing nodes',
    );
    return new Map(l.items.map((n) => [n.metadata!.labels![label]!, n.metadata!.name!]));
  }

  async createPolicy(obj: KubeObject): Promise<void> {
    try {
      await withTimeout(
        this.net.createNamespacedNetworkPolicy({
          namespace: obj.metadata.namespace!,
          body: typed<V1NetworkPolicy>(obj, 'V1NetworkPolicy'),
        }),
        API_TIMEOUT_MS,
        `creating NetworkPolicy ${obj.metadata.namespace}/${obj.metadata.name}`,
      );
    } catch (e) {
      if (e instanceof TimeoutError) throw e;
      // A policy of this name left by an earlier attempt of the same step: replace it with what we want now.
      if (statusCode(e) === 409) return this.replacePolicy(obj);
      throw new Error(
        `creating NetworkPolicy ${obj.metadata.namespace}/${obj.metadata.name}: ${apiMessage(e)}`,
      );
    }
  }

  /** PUT with the current resourceVersion; a 409 (someone changed it in between) re-reads and retries once. */
  async replacePolicy(obj: KubeObject, retries = 1): Promise<void> {
    const { namespace, name } = obj.metadata as { namespace: string; name: string };
    const what = `replacing NetworkPolicy ${namespace}/${name}`;
    const cur = await withTimeout(
      this.net.readNamespacedNetworkPolicy({ namespace, name }),
      API_TIMEOUT_MS,
      what,
    ).catch((e: unknown) => {
      if (statusCode(e) === 404) return undefined;
      throw new Error(`${what}: ${apiMessage(e)}`);
    });
    if (!cur) return this.createPolicy(obj);
    const body = typed<V1NetworkPolicy>(
      { ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } } as KubeObject,
      'V1NetworkPolicy',
    );
    try {
      await withTimeout(
        this.net.replaceNamespacedNetworkPolicy({ namespace, name, body }),
        API_TIMEOUT_MS,
        what,
      );
    } catch (e) {
      if (statusCode(e) === 409 && retries > 0) return this.replacePolicy(obj, retries - 1);
      throw new Error(`${what}: ${apiMessage(e)}`);
    }
  }

  async deletePolicy(namespace: string, name: string): Promise<void> {
    try {
      await withTimeout(
        this.net.deleteNamespacedNetworkPolicy({ namespace, name }),
        API_TIMEOUT_MS,
        `deleting NetworkPolicy ${namespace}/${name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 404)
        throw new Error(`deleting NetworkPolicy ${namespace}/${name}: ${apiMessage(e)}`);
    }
  }

  /** Any object by its apiVersion/kind (API discovery first); one that exists already is left as it is. */
  async createObject(obj: KubeObject): Promise<void> {
    this.objects ??= KubernetesObjectApi.makeApiClient(this.kc);
    try {
      await withTimeout(
        this.objects.create(obj as never),
        API_TIMEOUT_MS,
        `creating ${obj.kind} ${obj.metadata.name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 409)
        throw new Error(
          `creating ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${apiMessage(e)}`,
        );
    }
  }

  /** Cluster-scoped RBAC a run made (the overlay's controller role), found by the run label: cleanup's job. */
  async deleteLabelledClusterRbac(labelSelector: string): Promise<string[]> {
    const rbac = this.kc.makeApiClient(RbacAuthorizationV1Api);
    const gone: string[] = [];
    const bindings = await withTimeout(
      rbac.listClusterRoleBinding({ labelSelector }),
      API_TIMEOUT_MS,
      'listing ClusterRoleBindings',
    );
    for (const b of bindings.items) {
      await rbac.deleteClusterRoleBinding({ name: b.metadata!.name! });
      gone.push(`ClusterRoleBinding/${b.metadata!.name}`);
    }
    const roles = await withTimeout(
      rbac.listClusterRole({ labelSelector }),
      API_TIMEOUT_MS,
      'listing ClusterRoles',
    );
    for (const r of roles.items) {
      await rbac.deleteClusterRole({ name: r.metadata!.name! });
      gone.push(`ClusterRole/${r.metadata!.name}`);
    }
    return gone;
  }

  async deleteObject(obj: KubeObject): Promise<void> {
    this.objects ??= KubernetesObjectApi.makeApiClient(this.kc);
    try {
      await withTimeout(
        this.objects.delete(obj as never),
        API_TIMEOUT_MS,
        `deleting ${obj.kind} ${obj.metadata.name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 404)
        throw new Error(
          `deleting ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${apiMessage(e)}`,
        );
    }
  }

  /**
   * Switches kindnet's NetworkPolicy controller off (kindnetd --network-policy=false), keeping its bridge and
   * routes: the CNI then carries packets and enforces nothing. Returns false when the DaemonSet is not kind's.
   */
  async disableKindnetPolicy(): Promise<boolean> {
    const what = 'switching off kindnet NetworkPolicy enforcement';
    const ds = await withTimeout(
      this.apps.readNamespacedDaemonSet({ namespace: 'kube-system', name: 'kindnet' }),
      API_TIMEOUT_MS,
      what,
    );
    const containers = ds.spec?.template.spec?.containers ?? [];
    const i = containers.findIndex(
      (c) =>
        (c.command ?? []).concat(c.args ?? []).some((a) => a.includes('kindnetd')) ||
        c.name === 'kindnet-cni',
    );
    if (i < 0) return false;
    const c = containers[i]!;
    const field = c.args ? 'args' : 'command';
    const cur = c[field] ?? ['/bin/kindnetd'];
    if (cur.includes('--network-policy=false')) return true;
    const patch = [
      {
        op: c[field] ? 'replace' : 'add',
        path: `/spec/template/spec/containers/${i}/${field}`,
        value: [...cur, '--network-policy=false'],
      },
    ];
    await withTimeout(
      this.apps.patchNamespacedDaemonSet(
        { namespace: 'kube-system', name: 'kindnet', body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
      API_TIMEOUT_MS,
      what,
    );
    return true;
  }

  /** Whether the current user may do `verb` on `resource` (SelfSubjectAccessReview). */
  async can(
    verb: string,
    resource: string,
    opts: { group?: string; subresource?: string; namespace?: string } = {},
  ): Promise<boolean> {
    const r = await withTimeout(
      this.authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb,
              resource,
              group: opts.group ?? '',
              subresource: opts.subresource,
              namespace: opts.namespace,
            },
          },
        },
      }),
      5000,
      `SelfSubjectAccessReview ${verb} ${resource}`,
    );
    return r.status?.allowed === true;
  }

  /** Starts a watch; resolves to a handle that stops it. `done` gets the error (or null) when the stream ends. */
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (type: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return this.watcher.watch(path, query, onEvent, done);
  }

  /** Runs a command in a container (exec.ts): exit code and output, timedOut after the limit, or ExecError. */
  exec(
    namespace: string,
    pod: string,
    container: string,
    argv: string[],
    timeoutMs: number,
  ): Promise<ExecOutcome> {
    return execInPod(this.execer, { namespace, pod, container, argv, timeoutMs });
  }
}

export function loadKubeConfig(opts: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  return kc;
}
