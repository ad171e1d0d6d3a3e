// The TypeScript side of the Mininet driver: spawns driver.py with the system Python (Debian's mininet is not
// importable from other interpreters) and exchanges JSON lines with it, one outstanding request at a time.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const PYTHON = '/usr/bin/python3';
export const DRIVER_PATH = fileURLToPath(new URL('./driver.py', import.meta.url));

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  op: string;
}

export class DriverClient {
  private readonly proc: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail = '';
  private exited = false;
  private readonly readyPromise: Promise<void>;
  /** Called once when the driver exits; `expected` is false when it died on its own. */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;

  constructor(prefix: string) {
    // The prefix on the command line lets `cleanup` recognise the driver of a crashed run by /proc/PID/cmdline.
    this.proc = spawn(PYTHON, [DRIVER_PATH, prefix], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
    });
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.readyPromise = new Promise((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    this.readyPromise.catch(() => undefined);
    const lines = createInterface({ input: this.proc.stdout! });
    lines.on('line', (line) => {
      let msg: { id?: number; ok?: boolean; result?: unknown; error?: string; ready?: boolean };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.ready) return markReady();
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`mininet driver ${p.op}: ${msg.error}`));
    });
    this.proc.on('error', (e) => failReady(e));
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      const err = new Error(
        `mininet driver exited (code ${code}, signal ${signal})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`,
      );
      failReady(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.onExit?.(code, signal);
    });
    this.proc.stdin!.on('error', () => undefined);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  async request<T>(op: string, body: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<T> {
    await this.readyPromise;
    if (this.exited) throw new Error('mininet driver is not running');
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`mininet driver ${op}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        op,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.stdin!.write(`${JSON.stringify({ id, op, ...body })}\n`);
    });
  }

  /** Asks the driver to stop the network and waits for it to exit (kills it after `graceMs`). */
  async stop(graceMs = 60_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((res) => this.proc.once('exit', () => res()));
    try {
      await this.request('stop', {}, graceMs);
    } catch {
      // Fall through: closing stdin also makes the driver tear down.
    }
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
