// Waiting for pods through a Watch, never a sleep loop: list once (state + resourceVersion), then watch from
// there; a dropped stream resumes from the last resourceVersion seen, a 410 Gone relists. Every wait has a limit
// and its error names the pods still missing and what they are waiting on (an image pull failure fails at once).
import type { V1Pod } from '@kubernetes/client-node';
import { UsageError } from '../../errors.ts';
import type { KubeClient } from './client.ts';

export const POD_READY_TIMEOUT_MS = Number(process.env.TESTBED_K8S_READY_TIMEOUT_MS ?? 180_000);

/** Reasons a container cannot start that waiting will not fix: fail at once, naming it. */
const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CrashLoopBackOff',
]);

export interface PodView {
  ready: boolean;
  ip?: string;
  /** Why it is not ready (phase, or a container's waiting reason and message). */
  why: string;
  fatal?: string;
}

export function podView(p: V1Pod): PodView {
  const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const ip = p.status?.podIP;
  for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const w = cs.state?.waiting;
    if (w?.reason && FATAL_WAITING.has(w.reason))
      return {
        ready: false,
        ip,
        why: `${cs.name}: ${w.reason}`,
        fatal: `container ${cs.name} (${cs.image}): ${w.reason}${w.message ? `: ${w.message}` : ''}`,
      };
  }
  const waiting = p.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting;
  return {
    ready: ready && !!ip,
    ip,
    why: waiting?.reason
      ? `waiting: ${waiting.reason}`
      : `phase ${p.status?.phase ?? 'Pending'}${ready && !ip ? ', no pod IP' : ''}`,
  };
}

/** Images the cluster cannot get are a missing prerequisite (exit 2) with the fix; anything else is a failure. */
function fatalError(message: string, why: string): Error {
  if (/ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull/.test(why))
    return new UsageError(
      `${message}: make the image pullable by the nodes, or build it and load it (kind load docker-image IMAGE --name CLUSTER)`,
    );
  return new Error(message);
}

export type WaitMode = 'ready' | 'gone';

/**
 * Resolves with each pod's IP once every named pod of `namespace` is Ready (mode 'ready') or deleted
 * (mode 'gone'). Rejects after `timeoutMs` naming the pods it waited for.
 */
export function waitPods(
  client: KubeClient,
  namespace: string,
  names: string[],
  mode: WaitMode,
  timeoutMs = POD_READY_TIMEOUT_MS,
): Promise<Map<string, string>> {
  const want = new Set(names);
  const seen = new Map<string, V1Pod>();
  const ips = new Map<string, string>();
  let abort: AbortController | undefined;
  let finished = false;
  let resourceVersion = '0';
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      abort?.abort();
      if (err) reject(err);
      else resolve(ips);
    };
    const check = () => {
      const missing: string[] = [];
      for (const n of want) {
        const p = seen.get(n);
        if (mode === 'gone') {
          if (p) missing.push(n);
          continue;
        }
        if (!p) {
          missing.push(`${n} (not created)`);
          continue;
        }
        const v = podView(p);
        if (v.fatal) return done(fatalError(`pod ${namespace}/${n} cannot start: ${v.fatal}`, v.fatal));
        if (v.ready) ips.set(n, v.ip!);
        else missing.push(`${n} (${v.why})`);
      }
      if (missing.length === 0) done();
      return missing;
    };
    const timer = setTimeout(() => {
      const missing = check() ?? [];
      done(
        new Error(
          `pods in ${namespace} not ${mode === 'ready' ? 'Ready' : 'deleted'} within ${Math.round(timeoutMs / 1000)} s: ${missing.join(', ')}`,
        ),
      );
    }, timeoutMs);
    const relist = async () => {
      const l = await client.listPods(namespace);
      seen.clear();
      for (const p of l.items) if (want.has(p.metadata!.name!)) seen.set(p.metadata!.name!, p);
      resourceVersion = l.resourceVersion;
      check();
    };
    const startWatch = async (): Promise<void> => {
      if (finished) return;
      let gone = false;
      abort = await client.watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { resourceVersion, allowWatchBookmarks: true },
        (type, obj) => {
          const p = obj as V1Pod & { code?: number };
          if (type === 'ERROR') {
            // 410 Gone: our resourceVersion was compacted away; relist when this stream ends.
            if (p.code === 410) gone = true;
            return;
          }
          if (p.metadata?.resourceVersion) resourceVersion = p.metadata.resourceVersion;
          const name = p.metadata?.name;
          if (type === 'BOOKMARK' || !name || !want.has(name)) return;
          if (type === 'DELETED') seen.delete(name);
          else seen.set(name, p);
          check();
        },
        (err) => {
          if (finished) return;
          // The stream ended (server timeout, disconnect, or 410): resume; the overall limit still holds.
          // A short pause keeps a server that drops every stream at once from turning this into a hot loop.
          const pause = new Promise<void>((r) => setTimeout(r, 100));
          const resume = pause.then(() => (gone || err ? relist().then(startWatch) : startWatch()));
          resume.catch((e: unknown) =>
            done(new Error(`watching pods in ${namespace}: ${(e as Error).message}`)),
          );
        },
      );
      if (finished) abort.abort();
    };
    relist()
      .then(() => (finished ? undefined : startWatch()))
      .catch((e: unknown) => done(new Error(`watching pods in ${namespace}: ${(e as Error).message}`)));
  });
}
