// Shared by the user-space and eBPF overlay tests: key rotation under a running flow must lose nothing. Kept out
// of overlay-helpers.ts, which benchmarks import outside vitest.
import { expect } from 'vitest';
import { tool, type Lab } from './overlay-helpers.ts';

/**
 * Two full key rotations (6 phases) while `from` streams 1,000 UDP packets/s for 3 s to the echo on port 7000
 * of `to`: asserts no packet lost and no badKey/badEpoch drop anywhere; returns the phases and the counters
 * before and after, for the caller's own checks.
 */
export async function expectLosslessRotation(lab: Lab, from: string, to: string) {
  const { ov, net } = lab;
  const before = await ov.counters();
  const stream = tool(net, from, 'stream', { ip: ov.overlayAddress(to), port: 7000, rate: 1000, ms: 3000 });
  await new Promise((r) => setTimeout(r, 500));
  const epoch0 = ov.cp.keys.sendEpoch;
  const phases = [...(await ov.cp.rotateKey()), ...(await ov.cp.rotateKey())];
  const r = await stream;
  expect(phases).toHaveLength(6);
  expect(ov.cp.keys.sendEpoch).toBe((epoch0 + 2) % 256);
  expect(r.sent).toBeGreaterThan(2500);
  expect(r.lost).toEqual([]);
  const after = await ov.counters();
  for (const id of Object.keys(after)) {
    const d = (n: string) => (after[id]!.counters[n] ?? 0) - (before[id]?.counters[n] ?? 0);
    expect(d('badKey') + d('badEpoch'), id).toBe(0);
  }
  return { phases, before, after, sent: r.sent, received: r.received };
}
