// List + Watch of one resource through client-node, kept as a local cache (what client-go calls a
// reflector). A watch that ends cleanly is resumed from the last resourceVersion seen; 410 Gone (as an HTTP
// status or as a watch ERROR event) means the history is compacted: list again and resume from the list.
// Any other failure (API server down, 5xx, connection reset) backs off exponentially before the next try, so a
// flapping API server is not hammered; a successful list or event resets the backoff.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ApiObject } from './state-from-api.ts';

export interface ListResult {
  items: ApiObject[];
  metadata?: { resourceVersion?: string };
}

export interface ReflectorOptions {
  /** Watch path, e.g. `/api/v1/pods`. */
  path: string;
  labelSelector?: string;
  /** The matching list call (client-node typed API); its result is normalised to plain JSON. */
  list: () => Promise<ListResult>;
  /** Called after every change to the cache (and after each successful list). */
  onChange: () => void;
  onError?: (what: string, err: unknown) => void;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Server-side watch timeout; the reflector re-watches after it, as informers do. */
  timeoutSeconds?: number;
}

/** Delay before retry `attempt` (0-based): initial·2^attempt, capped. Pure. */
export function backoffDelay(attempt: number, initialMs = 200, maxMs = 5000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
}

const keyOf = (o: ApiObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const plain = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

export class Reflector {
  readonly objects = new Map<string, ApiObject>();
  resourceVersion = '';
  synced = false;
  /** Counters a test or the status page can read. */
  readonly stats = { lists: 0, watches: 0, gone: 0, errors: 0 };
  private stopped = false;
  private abort: AbortController | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private attempt = 0;
  private events = 0;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: ReflectorOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  list(): ApiObject[] {
    return [...this.objects.values()];
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.resourceVersion === '') {
        try {
          const r = plain(await this.opts.list());
          this.stats.lists++;
          this.objects.clear();
          for (const o of r.items) this.objects.set(keyOf(o), o);
          this.resourceVersion = r.metadata?.resourceVersion ?? '';
          this.synced = true;
          this.attempt = 0;
          this.opts.onChange();
        } catch (e) {
          this.fail('list', e);
          await this.sleep();
          continue;
        }
      }
      const t0 = Date.now();
      const events = this.events;
      const err = await this.watchOnce();
      if (this.stopped) break;
      if (err === 'gone') {
        this.stats.gone++;
        this.resourceVersion = '';
      } else if (err !== undefined) {
        this.fail('watch', err);
        await this.sleep();
      } else if (this.events === events && Date.now() - t0 < 1000) {
        // A server that ends every watch at once would otherwise be asked again in a tight loop.
        await this.sleep();
      }
    }
  }

  private fail(what: string, e: unknown): void {
    this.stats.errors++;
    if (
      (e as { statusCode?: number; code?: number }).statusCode === 410 ||
      (e as { code?: number }).code === 410
    )
      this.resourceVersion = '';
    this.opts.onError?.(`${what} ${this.opts.path}`, e);
  }

  private sleep(): Promise<void> {
    const ms = backoffDelay(this.attempt++, this.opts.backoff?.initialMs, this.opts.backoff?.maxMs);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  /** One watch; resolves undefined on a clean end, 'gone' on 410, or the error. */
  private watchOnce(): Promise<unknown> {
    return new Promise((resolve) => {
      let gone = false;
      let settled = false;
      const settle = (v: unknown) => {
        if (settled) return;
        settled = true;
        resolve(v);
      };
      const query: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.timeoutSeconds ?? 300,
      };
      if (this.opts.labelSelector) query.labelSelector = this.opts.labelSelector;
      this.stats.watches++;
      void new Watch(this.kc)
        .watch(
          this.opts.path,
          query,
          (type: string, obj: ApiObject & { code?: number }) => {
            if (type === 'ERROR') {
              if (obj.code === 410) gone = true;
              else this.opts.onError?.(`watch ${this.opts.path}`, new Error(JSON.stringify(obj)));
              this.abort?.abort();
              settle(gone ? 'gone' : new Error(`watch ERROR event: ${JSON.stringify(obj)}`));
              return;
            }
            const rv = (obj.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            this.attempt = 0;
            this.events++;
            if (type === 'BOOKMARK') return;
            if (type === 'DELETED') this.objects.delete(keyOf(obj));
            else this.objects.set(keyOf(obj), obj);
            this.opts.onChange();
          },
          (err: unknown) => {
            if (gone) settle('gone');
            else if (err && (err as { statusCode?: number }).statusCode === 410) settle('gone');
            else settle(err ?? undefined);
          },
        )
        .then(
          (ctl) => {
            this.abort = ctl;
            if (this.stopped || settled) ctl.abort();
          },
          (e: unknown) => settle(e),
        );
    });
  }
}
