// Nothing a run creates may outlive it: not when a test throws midway, not when the Mininet driver dies, not
// when the harness gets SIGTERM, and after a SIGKILL of the harness `cleanup` removes the rest.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../../src/commands/cleanup.ts';
import { withNetwork } from '../../src/platform/index.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import { leftovers } from '../../src/platform/mininet/sweep.ts';
import { newPrefix } from '../../src/platform/mininet/topo.ts';
import { statePath } from '../../src/platform/runstate.ts';
import { parseScenario } from '../../src/scenario/load.ts';

const file = 'scenarios/examples/minimal.yaml';
const s = parseScenario(file, readFileSync(file, 'utf8'));
const NONE = { links: [], pids: [] };

async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startHarness(): Promise<{ proc: ReturnType<typeof spawn>; prefix: string; sleeper: number }> {
  // Plain node with the tsx loader: the tsx CLI wrapper would leave its child alive when SIGKILLed.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/integration/fixtures/hold-network.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', (l) => resolve({ proc, ...JSON.parse(l) }));
    proc.once('exit', (c) => reject(new Error(`harness exited early (${c})`)));
  });
}

describe('no leftovers', () => {
  it('a test that throws midway still leaves nothing behind', async () => {
    const prefix = newPrefix();
    let sleeper = 0;
    await expect(
      withNetwork(mininetPlatform, [s.topology, s.initial.pods, { prefix }], async (net) => {
        sleeper = net.spawn('y/b', ['sleep', '600']).pid!;
        expect(leftovers(prefix).pids.length).toBeGreaterThan(0);
        throw new Error('boom in the middle of a test');
      }),
    ).rejects.toThrow('boom');
    expect(leftovers(prefix)).toEqual(NONE);
    expect(existsSync(`/proc/${sleeper}`)).toBe(false);
    expect(existsSync(statePath(prefix))).toBe(false);
  });

  it('cleans up when the Mininet driver dies', async () => {
    const net = await mininetPlatform.up(s.topology, s.initial.pods);
    const sleeper = net.spawn('x/a', ['sleep', '600']).pid!;
    const state = JSON.parse(readFileSync(statePath(net.prefix), 'utf8')) as {
      processes: { pid: number; marker: string }[];
    };
    const driver = state.processes.find((p) => p.marker.startsWith('driver.py'))!;
    process.kill(driver.pid, 'SIGKILL');
    await eventually(() => leftovers(net.prefix).pids.length === 0 && !existsSync(`/proc/${sleeper}`));
    await expect(net.exec('x/a', ['true'])).rejects.toThrow(/died/);
    await net.down();
    expect(leftovers(net.prefix)).toEqual(NONE);
  });

  it('tears down on SIGTERM of the harness', async () => {
    const h = await startHarness();
    expect(leftovers(h.prefix).pids.length).toBeGreaterThan(0);
    const code = new Promise((res) => h.proc.once('exit', (c, sig) => res(c ?? sig)));
    h.proc.kill('SIGTERM');
    expect(await code).toBe(143);
    expect(leftovers(h.prefix)).toEqual(NONE);
    expect(existsSync(`/proc/${h.sleeper}`)).toBe(false);
  });

  it('after SIGKILL of the harness, cleanup removes what is left and nothing of live runs', async () => {
    const live = await mininetPlatform.up(s.topology, s.initial.pods);
    try {
      const h = await startHarness();
      const exited = new Promise((res) => h.proc.once('exit', res));
      h.proc.kill('SIGKILL');
      await exited;
      // The driver tears Mininet down when its stdin closes; the orphaned program is only in the state file.
      await eventually(() => leftovers(h.prefix).pids.length === 0);
      expect(existsSync(`/proc/${h.sleeper}`)).toBe(true);
      const r = cleanupLeftovers();
      expect(r.runs).toContain(h.prefix);
      expect(r.skippedLive).toContain(live.prefix);
      await eventually(() => !existsSync(`/proc/${h.sleeper}`));
      expect(existsSync(statePath(h.prefix))).toBe(false);
      // The live run is untouched.
      expect((await live.exec('x/a', ['ping', '-c1', '-W2', live.address('y/b')])).code).toBe(0);
    } finally {
      await live.down();
    }
    expect(leftovers(live.prefix)).toEqual(NONE);
  });
});
