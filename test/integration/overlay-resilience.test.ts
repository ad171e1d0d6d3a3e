// Failure and lifecycle behaviour of the overlay on Mininet: killing a SaP, an agent or the control plane
// never opens traffic (fails closed) and allowed flows come back after a restart; key rotation loses no
// packet of a running flow; SIGTERM ends every process and leaves no TUN and no guard behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStatus, unixRequest, waitReady } from '../../reference-impl/control-plane/server.ts';
import { terminate } from '../../src/enforce/overlay/processes.ts';
import { daemon, down, up, type Lab } from './overlay-helpers.ts';
import { expectLosslessRotation } from './overlay-rotation.ts';
import { reach, threePods } from './overlay-three-pods.ts';

const sc = threePods('resilience');
const CP_MAIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../reference-impl/control-plane/main.ts',
);
const TSX = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../node_modules/tsx/dist/loader.mjs',
);

let lab: Lab | undefined;
let echo: Awaited<ReturnType<typeof daemon>> | undefined;
beforeAll(async () => {
  lab = await up(sc);
  echo = await daemon(lab.net, 'app/b', 'echo', 7000);
});
afterAll(async () => {
  echo?.child.kill('SIGTERM');
  await down(lab);
});

async function restart(id: string, kind: 'sap' | 'agent', host: string): Promise<void> {
  const { ov } = lab!;
  await ov.procs.stop(id, 0);
  const p = await ov.procs.start(id, kind, host);
  ov.cp.sockets.set(id, p.socket);
}

describe('overlay resilience', () => {
  it('starts allowing a → b and denying c → b', async () => {
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
    expect(await reach(lab!, 'app/a', 'app/b', { real: true })).toBe(0); // the underlay path is closed by the guard
  });

  it('a killed SaP fails closed; after restart and reconcile allowed flows work again', async () => {
    const { ov } = lab!;
    await ov.procs.kill('node:n2');
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(0);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
    expect(await reach(lab!, 'app/a', 'app/b', { real: true })).toBe(0);
    await restart('node:n2', 'sap', 'node:n2');
    // Up but unconfigured (version 0): drops everything until the control plane reconciles it.
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(0);
    expect(await ov.cp.reconcile()).toEqual(['node:n2']);
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
  });

  it('a killed agent fails closed (its guard stays); after restart and reconcile it works again', async () => {
    const { ov, net } = lab!;
    await ov.procs.kill('app/b');
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(0);
    expect(await reach(lab!, 'app/a', 'app/b', { real: true })).toBe(0);
    expect((await net.exec('app/b', ['nft', 'list', 'table', 'inet', 'ovguard'])).code).toBe(0);
    await restart('app/b', 'agent', 'app/b');
    expect(await ov.cp.reconcile()).toEqual(['app/b']);
    expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
    expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
  });

  it('a killed control plane leaves policy in force; a restarted one takes over and repairs', async () => {
    const { ov, net } = lab!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${net.prefix}-cp-`));
    const store = path.join(dir, 'store.json');
    const api = path.join(dir, 'cp.sock');
    fs.writeFileSync(
      store,
      JSON.stringify({
        state: sc.initial,
        topology: net.topology,
        keys: ov.cp.keys,
        sockets: Object.fromEntries(ov.cp.sockets),
      }),
    );
    const start = async () => {
      const child = (await import('node:child_process')).spawn(
        process.execPath,
        ['--import', TSX, CP_MAIN, '--api', api, '--store', store, '--reconcile-ms', '100'],
        { stdio: 'ignore' },
      );
      await waitReady(api, 30_000).catch(() => undefined);
      for (
        let i = 0;
        i < 100 &&
        !(await unixRequest<{ inForce: boolean }>(api, 'GET', '/status').then(
          (r) => r.json.inForce,
          () => false,
        ));
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      return child;
    };
    let cp = await start();
    try {
      const v1 = (await unixRequest<{ version: number }>(api, 'GET', '/status')).json.version;
      expect(v1).toBeGreaterThan(ov.cp.version); // adopted what was in force, then pushed a newer version
      expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
      await terminate(cp, 0, 'SIGKILL');
      expect(await reach(lab!, 'app/a', 'app/b')).toBe(20); // the data path does not need the control plane
      expect(await reach(lab!, 'app/c', 'app/b')).toBe(0); // and never fails open without it
      await ov.procs.kill('node:n2');
      await restart('node:n2', 'sap', 'node:n2');
      fs.writeFileSync(
        store,
        JSON.stringify({
          ...JSON.parse(fs.readFileSync(store, 'utf8')),
          sockets: Object.fromEntries(ov.cp.sockets),
        }),
      );
      expect(await reach(lab!, 'app/a', 'app/b')).toBe(0); // nobody configures the new SaP: closed
      cp = await start();
      expect((await getStatus(ov.cp.sockets.get('node:n2')!)).version).toBeGreaterThan(v1);
      expect(await reach(lab!, 'app/a', 'app/b')).toBe(20);
      expect(await reach(lab!, 'app/c', 'app/b')).toBe(0);
      ov.cp.version = (await unixRequest<{ version: number }>(api, 'GET', '/status')).json.version; // hand control back to the harness
    } finally {
      await terminate(cp, 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rotates the key twice under a running flow without losing a packet', async () => {
    const r = await expectLosslessRotation(lab!, 'app/a', 'app/b');
    console.log(
      `rotation: ${r.phases.map((p) => `${p.phase} v${p.version} ${p.ms.toFixed(1)} ms`).join(', ')}; ${r.sent} sent, ${r.received} echoed`,
    );
  });

  it('SIGTERM ends every process; TUNs and guards are gone', async () => {
    const { ov, net } = lab!;
    const procs = ov.procs.ids().map((id) => ov.procs.get(id)!);
    const pids = procs.map((p) => p.child.pid!);
    await ov.teardown();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    for (const host of ['app/a', 'app/b', 'app/c']) {
      expect((await net.exec(host, ['ip', 'link', 'show', 'ov0'])).code).not.toBe(0);
      expect((await net.exec(host, ['nft', 'list', 'table', 'inet', 'ovguard'])).code).not.toBe(0);
    }
    expect(fs.existsSync(ov.procs.dir)).toBe(false);
  });
});
