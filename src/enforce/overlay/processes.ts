// The overlay's processes in a Network: one SaP per node (plus a gateway SaP per cluster) and one agent per
// pod and per unmanaged host, each a Node process inside its host's namespace with a unix-socket API
// (reference-impl/CONTRACT.md). Ended by PID only, SIGTERM first.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Network } from '../../platform/platform.ts';
import { waitReady } from '../../../reference-impl/control-plane/server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SAP_MAIN = path.join(ROOT, 'reference-impl/sap/main.ts');
export const AGENT_MAIN = path.join(ROOT, 'reference-impl/agent/main.ts');
export const EBPF_SAP_MAIN = path.join(ROOT, 'reference-impl/ebpf/sap-main.ts');
export const EBPF_AGENT_MAIN = path.join(ROOT, 'reference-impl/ebpf/agent-main.ts');
const TSX_LOADER = path.join(ROOT, 'node_modules/tsx/dist/loader.mjs');

export interface OverlayProcess {
  /** SaP id (`node:n1`, `gw:c1`) or agent endpoint ref (`ns/pod`, `ext:name`). */
  id: string;
  kind: 'sap' | 'agent';
  host: string;
  socket: string;
  child: ChildProcess;
  /** The last lines the process wrote (stdout and stderr), for error messages. */
  log: string[];
}

/** Which data path a process runs: user space (TUN + UDP sockets) or the kernel (reference-impl/ebpf/). */
export type Datapath = 'user' | 'ebpf';

export class OverlayProcesses {
  readonly dir: string;
  /** bpffs directory holding the pins of this run's eBPF processes (one subdirectory each). */
  readonly bpfDir: string;
  private readonly procs = new Map<string, OverlayProcess>();
  private seq = 0;

  constructor(
    private readonly net: Pick<Network, 'spawn' | 'prefix'>,
    /** Per process id; a function so one run can mix the two (the interoperability test). */
    readonly datapath: (id: string, kind: 'sap' | 'agent') => Datapath = () => 'user',
    /** false: agents without TSO/checksum offload (`--offload off`), as mixing the two data paths requires. */
    readonly offload = true,
  ) {
    // Short paths: a unix socket path is limited to 107 bytes.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${net.prefix}-ov-`));
    this.bpfDir = path.join('/sys/fs/bpf', `${net.prefix}-ov-${path.basename(this.dir).slice(-6)}`);
  }

  get(id: string): OverlayProcess | undefined {
    return this.procs.get(id);
  }

  ids(): string[] {
    return [...this.procs.keys()];
  }

  /** Starts the process and resolves once its API answers GET /status. */
  async start(id: string, kind: 'sap' | 'agent', host: string): Promise<OverlayProcess> {
    const n = this.seq++;
    const socket = path.join(this.dir, `${kind[0]}${n}.sock`);
    const ebpf = this.datapath(id, kind) === 'ebpf';
    const main = ebpf
      ? kind === 'sap'
        ? EBPF_SAP_MAIN
        : EBPF_AGENT_MAIN
      : kind === 'sap'
        ? SAP_MAIN
        : AGENT_MAIN;
    // --lifeline stdin: the process exits when our end of its stdin pipe closes, so a crashed harness leaves no
    // data path behind (network.spawn gives every child a stdin pipe).
    const argv = [
      process.execPath,
      '--import',
      TSX_LOADER,
      main,
      '--api',
      socket,
      '--lifeline',
      'stdin',
      ...(ebpf ? ['--bpf-dir', path.join(this.bpfDir, `${kind[0]}${n}`)] : []),
      ...(kind === 'agent' && !this.offload ? ['--offload', 'off'] : []),
    ];
    const child = this.net.spawn(host, argv);
    const p: OverlayProcess = { id, kind, host, socket, child, log: [] };
    const keep = (d: Buffer) => {
      p.log.push(...d.toString().split('\n').filter(Boolean));
      if (p.log.length > 40) p.log.splice(0, p.log.length - 40);
    };
    // Always drain the pipes: a full pipe would stall the process.
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.procs.set(id, p);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) =>
        reject(
          new Error(
            `${kind} ${id} in ${host} exited (${code ?? sig}) before it was ready: ${p.log.slice(-5).join(' | ')}`,
          ),
        ),
      ),
    );
    await Promise.race([waitReady(socket, 30_000), exited]);
    return p;
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(id: string, graceMs = 2000): Promise<void> {
    const p = this.procs.get(id);
    if (!p) return;
    this.procs.delete(id);
    await terminate(p.child, graceMs);
    fs.rmSync(p.socket, { force: true });
  }

  /** Kills a process abruptly (SIGKILL), keeping its entry so a test can restart it under the same id. */
  async kill(id: string): Promise<void> {
    const p = this.procs.get(id);
    if (p) await terminate(p.child, 0, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.ids().map((id) => this.stop(id)));
    fs.rmSync(this.dir, { recursive: true, force: true });
    // Pins of a process that was killed (it could not unpin itself); its programs went with its namespace.
    fs.rmSync(this.bpfDir, { recursive: true, force: true });
  }
}

export function terminate(
  child: ChildProcess,
  graceMs: number,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
