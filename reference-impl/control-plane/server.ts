// The control plane's push side: versioned configs to every agent and SaP over their unix-socket APIs
// (../CONTRACT.md), in parallel, and confirmation that a version is in force everywhere: a pushed process by its
// PUT answer, any other by its open GET /watch stream or else its GET /status. A version is "in force" only when
// every process is known to run its config of that version; the time from the start of a push until then is
// what the harness records as policy-programming latency.
import http from 'node:http';
import type { ClusterState } from '../../src/policy/model.ts';
import type { Topology } from '../../src/scenario/types.ts';
import { compileOverlay, type KeyState, type OverlayPlan } from './compile.ts';
import { newOverlay, ROTATION_PHASES, rotationStep } from './keys.ts';
import { tcpAddress } from '../sap/api.ts';

export interface ProcessStatus {
  version: number;
  counters: Record<string, number>;
  uptimeMs?: number;
  pid?: number;
}

/**
 * One HTTP/1.1 exchange over a unix socket (or TCP when `socketPath` is `tcp://HOST:PORT`, as on Kubernetes);
 * rejects on connection errors and timeouts.
 */
export function unixRequest<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; json: T }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const tcp = tcpAddress(socketPath);
    const req = http.request(
      {
        ...(tcp ? { host: tcp.host, port: tcp.port } : { socketPath }),
        method,
        path,
        headers: data
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
          : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep the text: the caller reports it */
          }
          resolve({ status: res.statusCode ?? 0, json: json as T });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path} on ${socketPath}: no answer within ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(data);
  });
}

export async function getStatus(socket: string, timeoutMs = 2000): Promise<ProcessStatus> {
  const r = await unixRequest(socket, 'GET', '/status', undefined, timeoutMs);
  if (r.status !== 200)
    throw new Error(`GET /status on ${socket}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as ProcessStatus;
}

/** Polls GET /status until it answers (the process is up), or throws after timeoutMs. */
export async function waitReady(socket: string, timeoutMs = 15_000): Promise<ProcessStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await getStatus(socket, 1000);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(
    `process behind ${socket} did not come up within ${timeoutMs} ms: ${(last as Error)?.message}`,
  );
}

/**
 * A GET /watch stream to one process: the version it last announced, while the connection stays open. The
 * kernel closes a unix socket the moment its process exits, so an open stream proves the process that
 * confirmed a version still runs it, without waking it (xDS-style: a proxy's ACK holds until its stream
 * breaks). Over TCP a dead peer may leave the connection open for minutes, so TCP targets are polled instead.
 */
class Watch {
  /** Version from the last line the process sent; undefined until the first line. */
  version: number | undefined;
  private readonly req: http.ClientRequest;

  constructor(
    readonly socket: string,
    onEnd: (w: Watch, supported: boolean) => void,
  ) {
    this.req = http.request({ socketPath: socket, method: 'GET', path: '/watch' }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        onEnd(this, false);
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          let v = NaN;
          try {
            v = Number((JSON.parse(line) as { version?: unknown } | null)?.version);
          } catch {
            // not JSON: below
          }
          // A line that is no version is no proof of anything: the stream is dropped and the process polled.
          if (!Number.isInteger(v)) {
            this.version = undefined;
            this.req.destroy();
            return;
          }
          this.version = v;
        }
      });
      res.on('close', () => onEnd(this, true));
    });
    this.req.on('error', () => onEnd(this, true));
    // A watch never keeps the harness (or a test) alive on its own.
    this.req.on('socket', (sk) => sk.unref());
    this.req.end();
  }

  close(): void {
    this.req.destroy();
  }
}

export interface ProgramReport {
  version: number;
  /** From the start of the push until every process is known to run its config of the version. */
  ms: number;
  /** Compile time alone. */
  compileMs: number;
  plan: OverlayPlan;
  /** Processes whose config changed and was pushed. */
  pushed: number;
  /** The longest apply one process reported for its push (its own parse, render and write time). */
  maxApplyMs: number;
}

/**
 * Holds the desired state and keys, and the socket of every process (SaP id or agent endpoint ref → socket).
 * Not safe for concurrent program()/rotateKey() calls: the harness drives it one step at a time.
 */
export class ControlPlane {
  version = 0;
  keys: KeyState;
  state: ClusterState | undefined;
  plan: OverlayPlan | undefined;
  readonly sockets = new Map<string, string>();
  /** Per process: the config body last pushed and the version it was pushed with. */
  private readonly pushed = new Map<string, { body: string; version: number }>();
  private reconciler: NodeJS.Timeout | undefined;
  /** Open GET /watch streams by process id; sockets whose process answered /watch with an error. */
  private readonly watches = new Map<string, Watch>();
  private readonly noWatch = new Set<string>();

  readonly topology: Pick<Topology, 'clusters'> | undefined;

  constructor(opts: { keys?: KeyState; topology?: Pick<Topology, 'clusters'> } = {}) {
    this.keys = opts.keys ?? newOverlay();
    this.topology = opts.topology;
  }

  /** Every process of a plan: SaPs by id, agents by endpoint ref, each with its config. */
  static targets(plan: OverlayPlan): { id: string; config: { version: number } }[] {
    return [
      ...plan.saps.map((s) => ({ id: s.id, config: s.config })),
      ...plan.agents.map((a) => ({ id: a.ref, config: a.config })),
    ];
  }

  /** PUT /config; resolves with the version the process reports in force after it, and its apply time. */
  private async pushOne(id: string, config: unknown): Promise<{ version: number; applyMs: number }> {
    const socket = this.sockets.get(id);
    if (!socket) throw new Error(`no process registered for ${id}`);
    const r = await unixRequest(socket, 'PUT', '/config', config).catch((e: Error) => {
      throw new Error(`PUT /config to ${id} (${socket}): ${e.message}`);
    });
    if (r.status !== 200) throw new Error(`PUT /config to ${id}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    const j = (r.json ?? {}) as { version?: unknown; applyMs?: unknown };
    return { version: Number(j.version ?? 0), applyMs: Number(j.applyMs ?? 0) };
  }

  /** Opens a watch on every process that has none (unix sockets only; see Watch). */
  private watchAll(ids: Iterable<string>): void {
    for (const id of ids) {
      const socket = this.sockets.get(id);
      if (!socket || tcpAddress(socket) || this.noWatch.has(socket)) continue;
      const open = this.watches.get(id);
      if (open?.socket === socket) continue;
      open?.close();
      this.watches.set(
        id,
        new Watch(socket, (w, supported) => {
          if (!supported) this.noWatch.add(socket);
          if (this.watches.get(id) === w) this.watches.delete(id);
        }),
      );
    }
  }

  /** The version a process is known to run without asking it: its open watch's last line, if any. */
  private watched(id: string): number | undefined {
    const w = this.watches.get(id);
    return w && w.socket === this.sockets.get(id) ? w.version : undefined;
  }

  /** Closes every watch stream (the harness's teardown; processes may outlive the control plane). */
  close(): void {
    this.stopReconciler();
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
  }

  /**
   * Waits until every process reports at least its wanted version. A process found behind (restarted since
   * its last push) is pushed its current config again, at most every 100 ms.
   */
  async waitInForce(
    want: Map<string, { version: number; config: unknown }>,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const repushed = new Map<string, number>();
    let pending = [...want.keys()];
    while (pending.length > 0) {
      const st = await Promise.all(
        pending.map((id) =>
          getStatus(this.sockets.get(id)!).then(
            (s) => s.version,
            () => -1,
          ),
        ),
      );
      pending = pending.filter((id, i) => st[i]! < want.get(id)!.version);
      if (pending.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`config not in force at ${pending.join(', ')} after ${timeoutMs} ms`);
      for (const id of pending)
        if (Date.now() - (repushed.get(id) ?? 0) >= 100) {
          repushed.set(id, Date.now());
          void this.pushOne(id, want.get(id)!.config).catch(() => undefined);
        }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Compiles `state` under a new version and pushes it, in parallel, to every process whose config changed
   * (a policy change leaves agents untouched: their config holds no policy); resolves when every process
   * runs its latest config.
   */
  async program(state: ClusterState): Promise<ProgramReport> {
    const t0 = performance.now();
    const version = this.version + 1;
    const plan = compileOverlay(state, { version, keys: this.keys, topology: this.topology });
    const compileMs = performance.now() - t0;
    const targets = ControlPlane.targets(plan);
    const bodies = new Map(targets.map((t) => [t.id, ControlPlane.body(t.config)]));
    const changed = targets.filter((t) => this.pushed.get(t.id)?.body !== bodies.get(t.id));
    const changedIds = new Set(changed.map((t) => t.id));
    // A process left unchanged still runs what it confirmed if its watch stream is open at that version;
    // the others are asked for their version while the changed ones apply theirs (one round of status calls
    // overlapped with the pushes, not after them). A push answered with its version is in force (PUT /config
    // answers after the apply), so only a push answered otherwise is polled again.
    const wantOf = (ts: typeof targets) =>
      new Map(ts.map((t) => [t.id, { version: this.pushed.get(t.id)!.version, config: t.config }]));
    const unchanged = targets.filter(
      (t) => !changedIds.has(t.id) && !((this.watched(t.id) ?? -1) >= this.pushed.get(t.id)!.version),
    );
    const confirmed = new Set<string>();
    let maxApplyMs = 0;
    await Promise.all([
      ...changed.map(async (t) => {
        const r = await this.pushOne(t.id, t.config);
        maxApplyMs = Math.max(maxApplyMs, r.applyMs);
        if (r.version >= version) confirmed.add(t.id);
      }),
      this.waitInForce(wantOf(unchanged)),
    ]);
    for (const t of changed) this.pushed.set(t.id, { body: bodies.get(t.id)!, version });
    const want = new Set(targets.map((t) => t.id));
    for (const id of [...this.pushed.keys()]) if (!want.has(id)) this.pushed.delete(id);
    await this.waitInForce(wantOf(changed.filter((t) => !confirmed.has(t.id))));
    this.watchAll(want);
    this.version = version;
    this.state = state;
    this.plan = plan;
    return { version, ms: performance.now() - t0, compileMs, plan, pushed: changed.length, maxApplyMs };
  }

  /** A config without its version: equal bodies need no push. */
  private static body(config: { version: number }): string {
    return JSON.stringify({ ...config, version: 0 });
  }

  /**
   * Rotates the overlay key without loss: accept new epoch everywhere → switch senders → retire the old one,
   * each phase in force everywhere before the next starts (see keys.ts).
   */
  async rotateKey(
    onPhase?: (keys: KeyState) => void,
  ): Promise<{ phase: string; version: number; ms: number }[]> {
    if (!this.state) throw new Error('rotateKey before the first program()');
    const out: { phase: string; version: number; ms: number }[] = [];
    for (const phase of ROTATION_PHASES) {
      const prev = this.keys;
      this.keys = rotationStep(prev, phase);
      try {
        const r = await this.program(this.state);
        out.push({ phase, version: r.version, ms: r.ms });
        onPhase?.(this.keys);
      } catch (e) {
        this.keys = prev;
        throw e;
      }
    }
    return out;
  }

  /**
   * Re-pushes the current config to every process that reports an older version (a restarted agent or SaP
   * comes back with version 0 and drops everything until then). Returns the ids it repaired.
   */
  async reconcile(): Promise<string[]> {
    const plan = this.plan;
    if (!plan) return [];
    const repaired: string[] = [];
    await Promise.all(
      ControlPlane.targets(plan).map(async (t) => {
        const socket = this.sockets.get(t.id);
        if (!socket) return;
        const wanted = this.pushed.get(t.id)?.version ?? plan.version;
        // An open watch at the wanted version needs no call; a restart closes it, and the next round asks.
        if ((this.watched(t.id) ?? -1) >= wanted) return;
        try {
          const s = await getStatus(socket, 1000);
          if (s.version < wanted) {
            await this.pushOne(t.id, t.config);
            repaired.push(t.id);
          }
          this.watchAll([t.id]);
        } catch {
          /* not up (yet): the next round retries */
        }
      }),
    );
    return repaired;
  }

  startReconciler(intervalMs = 200): void {
    this.stopReconciler();
    const tick = () => {
      this.reconciler = setTimeout(
        () => void this.reconcile().finally(() => this.reconciler && tick()),
        intervalMs,
      );
    };
    tick();
  }

  stopReconciler(): void {
    if (this.reconciler) clearTimeout(this.reconciler);
    this.reconciler = undefined;
  }
}
