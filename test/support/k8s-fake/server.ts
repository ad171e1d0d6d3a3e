// An in-process fake Kubernetes API server for tests: plain HTTP on 127.0.0.1 (HTTPS with a self-signed
// certificate on request), serving the real paths `@kubernetes/client-node` 1.4 calls, so tests drive the
// real client code (CoreV1Api, NetworkingV1Api, KubernetesObjectApi, Watch, Exec) against it.
//
// API (see README.md):
//   const kube = await startFakeKube({ autoReady?, assignPodIP?, assignHostIP?, validate?, tls? });
//   kube.url / kube.port; kube.kubeConfig() → KubeConfig pointing at it (user 'u', skipTLSVerify)
//   kube.store         FakeStore: list/get/create/replace/delete, setPodReady(ns, name, ready), compact(), rv
//   kube.requests      RequestLog[] {method, path, query, contentType, body, watch, status}; kube.clearLog()
//   kube.exec.handler  (ns, pod, container, argv) => {stdout?, stderr?, code} | Promise | throws
//   kube.faults.failNext(n, code, match?)  next n matching requests answer `code` with a Status body
//   kube.faults.delay(ms, match?)          every matching request waits ms first (until faults.clear())
//   kube.faults.dropWatches()              ends every open watch stream (client sees a clean close)
//   kube.faults.dropExecs()                cuts every open exec WebSocket without a status frame
//   kube.bookmark()    sends a BOOKMARK at the current resourceVersion to watches that allowed bookmarks
//   kube.openWatches() number of open watch streams;  await kube.close()
//
// Served: GET /version /api /apis and each group's resource list; the resources of resources.ts (namespaces,
// pods, services, serviceaccounts, configmaps, networkpolicies, deployments, daemonsets, RBAC), their
// `status` subresource, namespaced and all-namespaces lists: GET (get/list with labelSelector and
// fieldSelector metadata.name/namespace), POST, PUT (409 Conflict on a stale resourceVersion), PATCH
// (merge-patch+json; strategic-merge-patch+json treated as a merge patch, which is exact for the maps clients
// patch here; json-patch+json), DELETE; `?watch=true|1` streams with resourceVersion replay, selector
// transitions as ADDED/DELETED, timeoutSeconds, BOOKMARKs, and a 410 Expired ERROR event for a compacted
// resourceVersion; pods/exec as a v4.channel.k8s.io WebSocket (exec.ts). Not served: anything else (404),
// Terminating namespaces (deletes cascade at once), pagination (`limit` is ignored), server-side apply (415).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { apiGroups, apiVersions, groupResources, versionInfo } from './discovery.ts';
import { RESOURCE_INFO, apiVersionOf, route, type Route } from './resources.ts';
import { ExecEndpoint } from './exec.ts';
import { jsonPatch, matchesFieldSelector, matchesSelector, mergePatch, parseLabelSelector } from './patch.ts';
import { ApiError, FakeStore, KIND, type KubeObject, type PodHooks, type Resource } from './store.ts';
import { selfSignedCert } from './tls.ts';
import { serveWatch, type OpenWatch } from './watch.ts';

export { ApiError, FakeStore } from './store.ts';
export type { KubeObject, Resource } from './store.ts';
export type { ExecHandler, ExecResult } from './exec.ts';

export interface RequestLog {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
  watch: boolean;
  status: number;
}

export interface RequestMatch {
  method?: string;
  /** Path prefix (string) or pattern. */
  path?: string | RegExp;
  watch?: boolean;
}

export interface FakeKubeOptions extends PodHooks {
  /** Validate created/replaced objects against the OpenAPI schema (kubernetes-models); 422 Invalid if not. Default true. */
  validate?: boolean;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

const matches = (m: RequestMatch | undefined, method: string, path: string, watch: boolean) =>
  !m ||
  ((m.method === undefined || m.method === method) &&
    (m.path === undefined || (typeof m.path === 'string' ? path.startsWith(m.path) : m.path.test(path))) &&
    (m.watch === undefined || m.watch === watch));

export class FakeKube {
  readonly store: FakeStore;
  readonly exec: ExecEndpoint;
  readonly requests: RequestLog[] = [];
  readonly faults = {
    failNext: (n: number, code: number, match?: RequestMatch, reason = 'InternalError') => {
      this.failures.push({ remaining: n, code, match, reason });
    },
    delay: (ms: number, match?: RequestMatch) => {
      this.delays.push({ ms, match });
    },
    dropWatches: () => {
      for (const w of [...this.watches]) w.end();
    },
    dropExecs: () => this.exec.dropAll(),
    clear: () => {
      this.failures.length = 0;
      this.delays.length = 0;
    },
  };
  url = '';
  port = 0;
  private readonly failures: { remaining: number; code: number; match?: RequestMatch; reason: string }[] = [];
  private readonly delays: { ms: number; match?: RequestMatch }[] = [];
  private readonly watches = new Set<OpenWatch>();
  private server!: http.Server;

  constructor(private readonly opts: FakeKubeOptions = {}) {
    this.store = new FakeStore(opts);
    this.exec = new ExecEndpoint(this.store);
  }

  async start(): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = this.opts.tls
      ? https.createServer(await selfSignedCert(), handler)
      : http.createServer(handler);
    this.server.on('upgrade', (req, socket, head: Buffer) => void this.upgrade(req, socket, head));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
    return this;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'fake', server: this.url, skipTLSVerify: true }, { name: 'u' });
    return kc;
  }

  clearLog(): void {
    this.requests.length = 0;
  }

  openWatches(): number {
    return this.watches.size;
  }

  bookmark(): void {
    for (const w of this.watches) w.bookmark();
  }

  async close(): Promise<void> {
    this.faults.dropWatches();
    this.exec.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Applies fault rules; returns an error to answer with, if any. */
  private async faultFor(method: string, path: string, watch: boolean): Promise<ApiError | undefined> {
    for (const d of this.delays)
      if (matches(d.match, method, path, watch)) await new Promise((r) => setTimeout(r, d.ms));
    const f = this.failures.find((x) => x.remaining > 0 && matches(x.match, method, path, watch));
    if (!f) return undefined;
    f.remaining--;
    return new ApiError(f.code, f.reason, `injected failure (${f.code}) for ${method} ${path}`);
  }

  private async upgrade(
    req: http.IncomingMessage,
    socket: import('node:stream').Duplex,
    head: Buffer,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: RequestLog = {
      method: 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      watch: false,
      status: 101,
    };
    this.requests.push(entry);
    const refuse = (e: ApiError) => {
      entry.status = e.code;
      const body = JSON.stringify(e.status());
      socket.end(
        `HTTP/1.1 ${e.code} ${http.STATUS_CODES[e.code] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const fault = await this.faultFor('GET', url.pathname, false);
      if (fault) return refuse(fault);
      const r = ExecEndpoint.parse(url);
      if (!r)
        return refuse(new ApiError(404, 'NotFound', 'the server could not find the requested resource'));
      this.exec.check(r);
      this.exec.upgrade(req, socket, head, r);
    } catch (e) {
      refuse(e instanceof ApiError ? e : new ApiError(500, 'InternalError', String(e)));
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const entry: RequestLog = {
      method,
      path: url.pathname,
      query: Object.fromEntries(q),
      contentType: req.headers['content-type'],
      watch,
      status: 0,
    };
    this.requests.push(entry);
    const send = (code: number, body: unknown) => {
      entry.status = code;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (text) {
        try {
          entry.body = JSON.parse(text);
        } catch {
          throw new ApiError(400, 'BadRequest', `the body of the request was not valid JSON`);
        }
      }
      const fault = await this.faultFor(method, url.pathname, watch);
      if (fault) throw fault;
      const doc = this.discovery(url.pathname);
      if (doc && method === 'GET') return send(200, doc);
      const r = route(url.pathname);
      if (!r || (r.sub !== undefined && r.sub !== 'status'))
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      if (watch && method === 'GET' && !r.name) {
        entry.status = 200;
        return serveWatch(this.store, this.watches, r, q, res);
      }
      const out = this.serve(r, method, entry.body, entry.contentType, q);
      send(out.code, out.body);
    } catch (e) {
      const err =
        e instanceof ApiError
          ? e
          : new ApiError(500, 'InternalError', e instanceof Error ? e.message : String(e));
      send(err.code, err.status());
    }
  }

  private discovery(path: string): unknown {
    switch (path) {
      case '/version':
        return versionInfo();
      case '/api':
        return apiVersions(`127.0.0.1:${this.port}`);
      case '/apis':
        return apiGroups();
    }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    return m ? groupResources(m[2] ?? '', m[1] ?? m[3]!) : undefined;
  }

  private validate(resource: Resource, o: KubeObject): void {
    if (this.opts.validate === false) return;
    try {
      new RESOURCE_INFO[resource].model(o as never).validate();
    } catch (e) {
      throw new ApiError(
        422,
        'Invalid',
        `${KIND[resource]} "${o.metadata?.name ?? ''}" is invalid: ${(e as Error).message}`,
        {
          name: o.metadata?.name,
          kind: KIND[resource],
        },
      );
    }
  }

  private serve(
    r: Route,
    method: string,
    body: unknown,
    contentType: string | undefined,
    q: URLSearchParams,
  ): { code: number; body: unknown } {
    const s = this.store;
    if (!r.name) {
      if (method === 'GET') {
        const sel = parseLabelSelector(q.get('labelSelector') ?? '');
        const field = q.get('fieldSelector') ?? undefined;
        const items = s
          .list(r.resource, r.namespace)
          .filter((o) => matchesSelector(o.metadata.labels, sel) && matchesFieldSelector(o, field));
        return {
          code: 200,
          body: {
            kind: `${KIND[r.resource]}List`,
            apiVersion: apiVersionOf(r.resource),
            metadata: { resourceVersion: String(s.rv) },
            items,
          },
        };
      }
      if (method === 'POST') {
        if (RESOURCE_INFO[r.resource].namespaced && r.namespace === undefined)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        const o = body as KubeObject;
        this.validate(r.resource, o);
        return { code: 201, body: s.create(r.resource, r.namespace, o) };
      }
      throw new ApiError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    }
    const name = r.name;
    switch (method) {
      case 'GET':
        return { code: 200, body: s.get(r.resource, r.namespace, name) };
      case 'PUT': {
        const o = body as KubeObject;
        this.validate(r.resource, o);
        return {
          code: 200,
          body: s.replace(r.resource, r.namespace, name, o, { status: r.sub === 'status' }),
        };
      }
      case 'PATCH': {
        const cur = s.get(r.resource, r.namespace, name);
        const ct = (contentType ?? '').split(';')[0]!.trim();
        let next: unknown;
        if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json')
          next = mergePatch(cur, body);
        else if (ct === 'application/json-patch+json') next = jsonPatch(cur, body);
        else
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${ct || 'none'})`,
          );
        const o = next as KubeObject;
        // A patch never carries a stale-version conflict unless it names a resourceVersion itself.
        if ((body as KubeObject | undefined)?.metadata?.resourceVersion === undefined)
          o.metadata.resourceVersion = cur.metadata.resourceVersion;
        this.validate(r.resource, o);
        return {
          code: 200,
          body: s.replace(r.resource, r.namespace, name, o, { status: r.sub === 'status' }),
        };
      }
      case 'DELETE': {
        const gone = s.delete(r.resource, r.namespace, name);
        if (r.resource === 'pods') return { code: 200, body: gone };
        return {
          code: 200,
          body: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: {
              name,
              kind: r.resource,
              uid: gone.metadata.uid,
              ...(RESOURCE_INFO[r.resource].group ? { group: RESOURCE_INFO[r.resource].group } : {}),
            },
          },
        };
      }
    }
    throw new ApiError(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  }
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  return new FakeKube(opts).start();
}
