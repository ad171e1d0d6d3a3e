// The push side of the control plane against fake agent/SaP processes (unix-socket HTTP servers that apply a
// config after a random delay, as a slow real process would). No root needed.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ControlPlane } from '../../reference-impl/control-plane/server.ts';
import { accepts, newOverlay, rotationStep } from '../../reference-impl/control-plane/keys.ts';
import type { KeyState } from '../../reference-impl/control-plane/compile.ts';
import { xyz, policy } from './policy-fixtures.ts';

interface Fake {
  id: string;
  socket: string;
  server: http.Server;
  applied: { version: number; keys: KeyState } | undefined;
  puts: number;
  statuses: number;
  /** Open GET /watch streams (a fake without watch support answers 404, as an older process would). */
  watches: Set<http.ServerResponse>;
  watchable: boolean;
}

/** A restart as the control plane sees it: the config is gone and the old process's streams close. */
function restart(f: Fake): void {
  f.applied = undefined;
  for (const w of f.watches) w.destroy();
}

let dir = '';
let fakes: Fake[] = [];
/** Every moment a process changed its config: the key states of all processes right after it. */
let snapshots: (KeyState | undefined)[][] = [];
/** PUTs being applied right now, and the most at once: parallel pushes overlap. */
let inFlight = 0;
let maxInFlight = 0;

function fake(id: string, maxDelayMs: number, watchable = true): Promise<Fake> {
  const f: Fake = {
    id,
    socket: path.join(dir, `${fakes.length}.sock`),
    server: undefined as never,
    applied: undefined,
    puts: 0,
    statuses: 0,
    watches: new Set(),
    watchable,
  };
  const announce = (w: http.ServerResponse) =>
    w.write(`${JSON.stringify({ version: f.applied?.version ?? 0 })}\n`);
  f.server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/status') {
        f.statuses++;
        res.end(JSON.stringify({ version: f.applied?.version ?? 0, counters: {} }));
        return;
      }
      if (req.method === 'GET' && req.url === '/watch') {
        if (!f.watchable) return void res.writeHead(404).end();
        f.watches.add(res);
        res.on('close', () => f.watches.delete(res));
        announce(res);
        return;
      }
      const cfg = JSON.parse(Buffer.concat(chunks).toString());
      f.puts++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        if (!f.applied || cfg.version > f.applied.version) {
          f.applied = {
            version: cfg.version,
            keys: { overlayId: cfg.overlayId, keys: cfg.keys, sendEpoch: cfg.sendEpoch },
          };
          snapshots.push(fakes.map((g) => g.applied?.keys));
        }
        res.end(JSON.stringify({ version: f.applied.version, applied: true }));
        for (const w of f.watches) announce(w);
      }, Math.random() * maxDelayMs);
    });
  });
  fakes.push(f);
  return new Promise((r) => f.server.listen(f.socket, () => r(f)));
}

async function setup(maxDelayMs: number, watchable = true): Promise<ControlPlane> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-test-'));
  fakes = [];
  snapshots = [];
  const cp = new ControlPlane();
  planes.push(cp);
  const plan = (await import('../../reference-impl/control-plane/compile.ts')).compileOverlay(xyz(), {
    version: 1,
    keys: cp.keys,
  });
  for (const t of ControlPlane.targets(plan))
    cp.sockets.set(t.id, (await fake(t.id, maxDelayMs, watchable)).socket);
  return cp;
}

const planes: ControlPlane[] = [];

afterEach(async () => {
  for (const cp of planes.splice(0)) cp.close();
  for (const f of fakes) for (const w of f.watches) w.destroy();
  await Promise.all(fakes.map((f) => new Promise((r) => f.server.close(r))));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until(ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ControlPlane push', () => {
  it('pushes one version to every process in parallel and returns once all report it', async () => {
    const cp = await setup(30);
    maxInFlight = 0;
    const r = await cp.program(xyz([policy('x/deny', { podSelector: {} })]));
    expect(r.version).toBe(1);
    expect(fakes.every((f) => f.applied?.version === 1)).toBe(true);
    // 13 processes that each take up to 30 ms: pushed in parallel, not one after the other.
    expect(maxInFlight).toBeGreaterThan(6);
    expect(r.ms).toBeGreaterThan(0);
    // A policy change reaches only the SaPs whose tables changed (x's pods live on n1 and n2; the gateway
    // serves only the external host): agent configs carry no policy.
    const r2 = await cp.program(xyz());
    expect(r2.version).toBe(2);
    const v = (id: string) => fakes.find((f) => f.id === id)!.applied?.version;
    expect([v('node:n1'), v('node:n2'), v('gw:c1')]).toEqual([2, 2, 1]);
    const agents = fakes.filter((f) => !/^(node|gw):/.test(f.id));
    expect(agents.every((f) => f.applied?.version === 1 && f.puts === 1)).toBe(true);
    expect(r2.pushed).toBe(2);
    // Same state again: nothing to push, still confirmed in force.
    const r3 = await cp.program(xyz());
    expect(r3.pushed).toBe(0);
    // A process restarted since (version 0, its watch closed) is found behind and pushed again.
    const restarted = fakes[5]!;
    const versionOf = (f: Fake): number => f.applied?.version ?? 0;
    restart(restarted);
    await until(() => restarted.watches.size === 0);
    await cp.program(xyz());
    expect(versionOf(restarted)).toBeGreaterThan(0);
  });

  it('confirms unchanged processes by their open watch, without a status call; polls one without a watch', async () => {
    const cp = await setup(5);
    await cp.program(xyz());
    await until(() => fakes.every((f) => f.watches.size === 1));
    for (const f of fakes) f.statuses = 0;
    const r = await cp.program(xyz([policy('x/deny', { podSelector: {} })]));
    expect(r.pushed).toBe(2);
    expect(fakes.map((f) => f.statuses)).toEqual(fakes.map(() => 0));
    // The watch is what proves an unchanged process still runs its config: once closed (a restart), that
    // process is asked again, and only it.
    const victim = fakes.find((f) => f.id === 'gw:c1')!;
    for (const w of victim.watches) w.destroy();
    await until(() => victim.watches.size === 0);
    await cp.program(xyz([policy('x/deny', { podSelector: {} })]));
    expect(fakes.filter((f) => f.statuses > 0).map((f) => f.id)).toEqual([victim.id]);
    // ...and watched again from then on.
    await until(() => victim.watches.size === 1);
  });

  it('drops a watch stream that sends something other than a version line, and polls that process', async () => {
    const cp = await setup(5);
    await cp.program(xyz());
    await until(() => fakes.every((f) => f.watches.size === 1));
    const liar = fakes.find((f) => f.id === 'gw:c1')!;
    for (const w of liar.watches) w.write('not json\n');
    await until(() => liar.watches.size === 0);
    for (const f of fakes) f.statuses = 0;
    await cp.program(xyz([policy('x/deny', { podSelector: {} })]));
    expect(fakes.filter((f) => f.statuses > 0).map((f) => f.id)).toEqual([liar.id]);
  });

  it('falls back to status polling for processes that do not serve /watch', async () => {
    const cp = await setup(5, false);
    await cp.program(xyz());
    for (const f of fakes) f.statuses = 0;
    const r = await cp.program(xyz([policy('x/deny', { podSelector: {} })]));
    expect(r.pushed).toBe(2);
    expect(fakes.filter((f) => f.statuses === 0).length).toBe(2);
    expect(fakes.every((f) => f.watches.size === 0)).toBe(true);
  });

  it('fails loudly when a process is gone, and reconcile repairs a restarted one', async () => {
    const cp = await setup(5);
    await cp.program(xyz());
    const victim = fakes[3]!;
    restart(victim); // back to version 0
    await until(() => victim.watches.size === 0);
    expect(await cp.reconcile()).toEqual([victim.id]);
    expect(victim.applied).toMatchObject({ version: 1 });
    // Gone: the listener and every connection (its watch too), as when the process exits.
    const closed = new Promise((r) => victim.server.close(r));
    victim.server.closeAllConnections();
    await closed;
    await expect(cp.program(xyz())).rejects.toThrow(victim.id);
    victim.server = http.createServer(); // closed already; afterEach closes this one
  });
});

describe('key rotation', () => {
  it('the state machine walks accept → switch → retire and refuses out-of-order steps', () => {
    const s0 = newOverlay(() => Buffer.alloc(32, 1), 9);
    const s1 = rotationStep(s0, 'accept', () => Buffer.alloc(32, 2));
    expect(s1.keys.map((k) => k.epoch)).toEqual([0, 1]);
    expect(s1.sendEpoch).toBe(0);
    expect(() => rotationStep(s0, 'switch')).toThrow();
    expect(() => rotationStep(s1, 'retire')).toThrow();
    const s2 = rotationStep(s1, 'switch');
    const s3 = rotationStep(s2, 'retire');
    expect(s3.keys).toEqual([s1.keys[1]]);
    // Neighbouring phases always accept each other's packets; skipping a phase would not.
    for (const [a, b] of [
      [s0, s1],
      [s1, s2],
      [s2, s3],
    ] as const) {
      expect(accepts(a, b) && accepts(b, a)).toBe(true);
    }
    expect(accepts(s0, s2)).toBe(false);
    expect(accepts(s3, s1)).toBe(false);
    const wrap = rotationStep(
      { ...s0, sendEpoch: 255, keys: [{ epoch: 255, key: s0.keys[0]!.key }] },
      'accept',
    );
    expect(wrap.keys[1]!.epoch).toBe(0);
  });

  it('at every moment of a rotation with slow processes, every receiver accepts every sender', async () => {
    const cp = await setup(25);
    await cp.program(xyz());
    snapshots = [];
    const phases = await cp.rotateKey();
    expect(phases.map((p) => p.phase)).toEqual(['accept', 'switch', 'retire']);
    expect(snapshots.length).toBe(fakes.length * 3);
    for (const snap of snapshots)
      for (const rx of snap) for (const tx of snap) expect(accepts(rx!, tx!)).toBe(true);
    const final = fakes[0]!.applied!.keys;
    expect(final.keys).toHaveLength(1);
    expect(final.sendEpoch).toBe(1);
  });
});
