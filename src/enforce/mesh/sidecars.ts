// The sidecar processes of a Network, one per mesh pod, each a Node process in the pod's namespace with a
// unix-socket API (reference-impl/CONTRACT.md), plus the pod's redirect rules (what Istio's init container
// installs). Order matters: the sidecar listens before the redirect exists, and the redirect is removed before
// the sidecar stops, so the app never sees its connections go nowhere. Ended by PID only, SIGTERM first.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostName, Network } from '../../platform/platform.ts';
import { waitReady } from '../../../reference-impl/control-plane/server.ts';
import { interceptRuleset, removeInterceptRuleset } from '../../../reference-impl/mesh/intercept.ts';
import { terminate } from '../overlay/processes.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SIDECAR_MAIN = path.join(ROOT, 'reference-impl/mesh/main.ts');
const TSX_LOADER = path.join(ROOT, 'node_modules/tsx/dist/loader.mjs');

export interface Sidecar {
  host: HostName;
  socket: string;
  child: ChildProcess;
  log: string[];
}

export class Sidecars {
  readonly dir: string;
  private readonly procs = new Map<HostName, Sidecar>();
  private seq = 0;

  constructor(private readonly net: Pick<Network, 'spawn' | 'exec' | 'prefix'>) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${net.prefix}-mesh-`));
  }

  get(host: HostName): Sidecar | undefined {
    return this.procs.get(host);
  }

  hosts(): HostName[] {
    return [...this.procs.keys()];
  }

  /** Starts the sidecar, waits for its API, then installs the pod's redirect rules. */
  async start(host: HostName): Promise<Sidecar> {
    const socket = path.join(this.dir, `s${this.seq++}.sock`);
    const child = this.net.spawn(host, [
      process.execPath,
      '--import',
      TSX_LOADER,
      SIDECAR_MAIN,
      '--api',
      socket,
      '--lifeline',
      'stdin',
    ]);
    const sc: Sidecar = { host, socket, child, log: [] };
    const keep = (d: Buffer) => {
      sc.log.push(...d.toString().split('\n').filter(Boolean));
      if (sc.log.length > 40) sc.log.splice(0, sc.log.length - 40);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.procs.set(host, sc);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) =>
        reject(
          new Error(
            `sidecar in ${host} exited (${code ?? sig}) before it was ready: ${sc.log.slice(-5).join(' | ')}`,
          ),
        ),
      ),
    );
    await Promise.race([waitReady(socket, 30_000), exited]);
    const r = await this.net.exec(host, ['nft', '-f', '-'], { input: interceptRuleset(), timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`redirect rules in ${host}: nft exited ${r.code}: ${r.stderr.trim()}`);
    return sc;
  }

  /** Removes the redirect (unless the pod is gone), then stops the sidecar. */
  async stop(host: HostName, opts: { podGone?: boolean } = {}): Promise<void> {
    const sc = this.procs.get(host);
    if (!sc) return;
    this.procs.delete(host);
    if (!opts.podGone)
      await this.net
        .exec(host, ['nft', '-f', '-'], { input: removeInterceptRuleset(), timeoutMs: 30_000 })
        .catch(() => undefined);
    await terminate(sc.child, 2000);
    fs.rmSync(sc.socket, { force: true });
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.hosts().map((h) => this.stop(h)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
