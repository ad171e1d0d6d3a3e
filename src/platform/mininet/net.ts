// A running Mininet network. Hosts are Mininet's unnamed namespaces; programs run inside them through
// `nsenter --net=/proc/PID/ns/net`, so only building and pod churn go through the Python driver.
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import type { Pod } from '../../policy/model.ts';
import type { Topology } from '../../scenario/types.ts';
import type { ExecOptions, ExecResult, HostName, Network } from '../platform.ts';
import { cmdline, removeRunState, writeRunState, type RecordedProcess } from '../runstate.ts';
import { DriverClient } from './client.ts';
import { deleteLinks, killPids, pidsWithMarker, rootLinks } from './sweep.ts';
import { buildRequest, driverPod, hostAddressLists } from './topo.ts';
import { registerLive, unregisterLive } from './live.ts';

interface Spawned {
  host: HostName;
  child: ChildProcess;
  marker: string;
}

export function nsenterArgv(pid: number, argv: string[]): string[] {
  return [`--net=/proc/${pid}/ns/net`, '--', ...argv];
}

export class MininetNetwork implements Network {
  private readonly pids = new Map<HostName, number>();
  private readonly addressLists: Map<HostName, string[]>;
  private readonly spawned = new Set<Spawned>();
  private readonly owner: RecordedProcess;
  private downPromise?: Promise<void>;
  private driverDied?: Error;

  private constructor(
    readonly prefix: string,
    readonly topology: Topology,
    pods: Pod[],
    private readonly driver: DriverClient,
  ) {
    this.addressLists = hostAddressLists(topology, pods);
    this.owner = { pid: process.pid, marker: (cmdline(process.pid) ?? process.argv.join(' ')).slice(0, 200) };
  }

  static async up(prefix: string, topology: Topology, pods: Pod[]): Promise<MininetNetwork> {
    const req = buildRequest(prefix, topology, pods); // refuses netem features before anything exists
    const driver = new DriverClient(prefix);
    const net = new MininetNetwork(prefix, topology, pods, driver);
    registerLive(net);
    driver.onExit = () => {
      if (!net.downPromise) {
        net.driverDied = new Error(`mininet driver of run ${prefix} died unexpectedly`);
        net.emergencyCleanup();
      }
    };
    try {
      net.saveState();
      const { op: _op, ...body } = req;
      const pids = await driver.request<Record<string, number>>(
        'build',
        body as unknown as Record<string, unknown>,
      );
      for (const [h, pid] of Object.entries(pids)) net.pids.set(h, pid);
      net.saveState();
    } catch (e) {
      await net.down();
      throw e;
    }
    return net;
  }

  hosts(): HostName[] {
    return [...this.pids.keys()];
  }

  pid(host: HostName): number {
    const p = this.pids.get(host);
    if (p === undefined) throw new Error(`no host '${host}' in run ${this.prefix}`);
    return p;
  }

  address(host: HostName): string {
    return this.addresses(host)[0]!;
  }

  addresses(host: HostName): string[] {
    const a = this.addressLists.get(host);
    if (a === undefined || a.length === 0) throw new Error(`no address for host '${host}'`);
    return a;
  }

  private check(): void {
    if (this.driverDied) throw this.driverDied;
    if (this.downPromise) throw new Error(`network ${this.prefix} is down`);
  }

  exec(host: HostName, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    try {
      this.check();
    } catch (e) {
      return Promise.reject(e);
    }
    const child = spawnProcess('nsenter', nsenterArgv(this.pid(host), argv), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: timedOut ? 124 : (code ?? 1), stdout, stderr, ...(timedOut ? { timedOut } : {}) });
      });
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input ?? '');
    });
  }

  spawn(host: HostName, argv: string[], opts: { env?: Record<string, string> } = {}): ChildProcess {
    this.check();
    const child = spawnProcess('nsenter', nsenterArgv(this.pid(host), argv), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    // nsenter execs the program in place, so the PID and cmdline are the program's own.
    const entry: Spawned = { host, child, marker: argv.join(' ').slice(0, 120) };
    this.spawned.add(entry);
    child.on('exit', () => {
      this.spawned.delete(entry);
    });
    child.stdin!.on('error', () => undefined);
    this.saveState();
    return child;
  }

  async addPod(pod: Pod): Promise<void> {
    this.check();
    const r = await this.driver.request<{ name: string; pid: number }>('add_host', { pod: driverPod(pod) });
    this.pids.set(r.name, r.pid);
    this.addressLists.set(r.name, pod.ips ?? [pod.ip]);
    this.saveState();
  }

  async removePod(ref: HostName): Promise<void> {
    this.check();
    this.pid(ref);
    await this.stopSpawned((s) => s.host === ref);
    await this.driver.request('del_host', { name: ref });
    this.pids.delete(ref);
    this.addressLists.delete(ref);
    this.saveState();
  }

  down(): Promise<void> {
    this.downPromise ??= this.doDown();
    return this.downPromise;
  }

  private async doDown(): Promise<void> {
    try {
      await this.stopSpawned(() => true);
      await this.driver.stop();
    } finally {
      this.sweep();
      removeRunState(this.prefix);
      unregisterLive(this);
    }
  }

  private async stopSpawned(which: (s: Spawned) => boolean): Promise<void> {
    const victims = [...this.spawned].filter(which);
    const exits = victims.map(
      (s) =>
        new Promise<void>((res) =>
          s.child.exitCode !== null || s.child.signalCode !== null
            ? res()
            : s.child.once('exit', () => res()),
        ),
    );
    for (const s of victims) s.child.kill('SIGTERM');
    const timer = setTimeout(() => victims.forEach((s) => s.child.kill('SIGKILL')), 1000);
    await Promise.all(exits);
    clearTimeout(timer);
  }

  /** Whatever the driver did not remove: host shells still alive, root-namespace links of this run. */
  private sweep(): void {
    killPids(pidsWithMarker(`mininet:${this.prefix}`));
    deleteLinks(rootLinks((n) => n.startsWith(this.prefix)));
  }

  /** Synchronous last resort (process exit, driver crash): no awaiting, SIGKILL everything this run started. */
  emergencyCleanup(): void {
    for (const s of this.spawned) s.child.kill('SIGKILL');
    this.driver.kill();
    this.sweep();
    removeRunState(this.prefix);
    unregisterLive(this);
  }

  private saveState(): void {
    const processes: RecordedProcess[] = [{ pid: this.driver.pid, marker: `driver.py ${this.prefix}` }];
    for (const pid of this.pids.values()) processes.push({ pid, marker: `mininet:${this.prefix}` });
    for (const s of this.spawned) if (s.child.pid) processes.push({ pid: s.child.pid, marker: s.marker });
    writeRunState({ prefix: this.prefix, owner: this.owner, processes, startedAt: new Date().toISOString() });
  }
}
