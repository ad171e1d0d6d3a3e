// Watch streams of the fake API server (`?watch=true`): newline-delimited JSON events as the API server sends
// them. resourceVersion empty or 0 → the current objects as ADDED, then live events; a number → replay of the
// history after it, or one ERROR event with a 410 Expired Status when that history is compacted. Selector
// transitions are sent as ADDED/DELETED (as the watch cache does); BOOKMARKs on request; timeoutSeconds.
import type http from 'node:http';
import { matchesFieldSelector, matchesSelector, parseLabelSelector } from './patch.ts';
import { apiVersionOf } from './resources.ts';
import {
  KIND,
  type ApiError,
  type FakeStore,
  type KubeObject,
  type Resource,
  type StoreEvent,
} from './store.ts';

/** An open watch stream: ended by faults.dropWatches() or close(); bookmarked by FakeKube.bookmark(). */
export interface OpenWatch {
  end: () => void;
  bookmark: () => void;
}

export function serveWatch(
  store: FakeStore,
  watches: Set<OpenWatch>,
  r: { resource: Resource; namespace?: string },
  q: URLSearchParams,
  res: http.ServerResponse,
): void {
  const sel = parseLabelSelector(q.get('labelSelector') ?? '');
  const field = q.get('fieldSelector') ?? undefined;
  const bookmarks = q.get('allowWatchBookmarks') === 'true';
  const rvParam = q.get('resourceVersion') ?? '';
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  const write = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
  const inScope = (e: StoreEvent) =>
    e.resource === r.resource && (r.namespace === undefined || e.object.metadata.namespace === r.namespace);
  const visible = (o: KubeObject) =>
    matchesSelector(o.metadata.labels, sel) && matchesFieldSelector(o, field);
  const k = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  // Which objects this watch currently shows: an update that moves an object out of (into) the selector is
  // sent as DELETED (ADDED), as the watch cache does.
  const shown = new Set<string>();
  const deliver = (e: StoreEvent) => {
    if (!inScope(e)) return;
    const was = shown.has(k(e.object));
    const is = e.type !== 'DELETED' && visible(e.object);
    if (is) shown.add(k(e.object));
    else shown.delete(k(e.object));
    if (e.type === 'DELETED') {
      if (was) write('DELETED', e.object);
    } else if (is) write(was ? 'MODIFIED' : 'ADDED', e.object);
    else if (was) write('DELETED', e.object);
  };
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = () => {};
  const w = {
    end: () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      watches.delete(w);
      res.end();
    },
    bookmark: () => {
      if (bookmarks)
        write('BOOKMARK', {
          kind: KIND[r.resource],
          apiVersion: apiVersionOf(r.resource),
          metadata: { resourceVersion: String(store.rv) },
        });
    },
  };
  if (rvParam === '' || rvParam === '0') {
    // "Any" version: the current state as synthetic ADDED events, then live changes.
    for (const o of store.list(r.resource, r.namespace))
      if (visible(o)) {
        shown.add(k(o));
        write('ADDED', o);
      }
  } else {
    const from = Number(rvParam);
    let replay: StoreEvent[];
    try {
      replay = store.eventsSince(from);
    } catch (e) {
      write('ERROR', (e as ApiError).status());
      res.end();
      return;
    }
    // What the client saw at `from`: objects unchanged since, plus those whose first later event is not an
    // ADDED (they existed then; judged by the selector on that event's object, as history keeps no older copy).
    for (const o of store.list(r.resource, r.namespace))
      if (Number(o.metadata.resourceVersion) <= from && visible(o)) shown.add(k(o));
    const firstSeen = new Set<string>();
    for (const e of replay)
      if (inScope(e) && !firstSeen.has(k(e.object))) {
        firstSeen.add(k(e.object));
        if (e.type !== 'ADDED' && visible(e.object)) shown.add(k(e.object));
      }
    for (const e of replay) deliver(e);
  }
  unsubscribe = store.subscribe(deliver);
  watches.add(w);
  res.on('close', () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    watches.delete(w);
  });
  const timeout = Number(q.get('timeoutSeconds') ?? 0);
  if (timeout > 0) timer = setTimeout(() => w.end(), timeout * 1000);
}
