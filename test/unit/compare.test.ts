import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { run as compareCommand } from '../../src/commands/compare.ts';
import { UsageError } from '../../src/errors.ts';
import { writeResults } from '../../src/results/store.ts';
import { compareRuns, parseThreshold } from '../../src/results/compare.ts';
import { syntheticRun } from './results.fixture.ts';

describe('compare two runs', () => {
  it('flags a +30 µs overlay shift as a significant regression beyond 10%, and nothing else', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 500, overlayShift: 90 }), {
      threshold: 0.1,
      iterations: 200,
    });
    const regressed = cmp.rows.filter((r) => r.regressed);
    expect(regressed.length).toBeGreaterThan(0);
    expect(new Set(regressed.map((r) => r.mode))).toEqual(new Set(['overlay']));
    const p50 = cmp.rows.find((r) => r.mode === 'overlay' && r.metric === 'p50' && r.path === 'same-node')!;
    expect(p50.change.lo).toBeLessThanOrEqual(30);
    expect(p50.change.hi).toBeGreaterThanOrEqual(30);
  });
  it('a run compared with fresh samples of the same distributions does not regress', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 777 }), { iterations: 200 });
    expect(cmp.rows.filter((r) => r.regressed)).toEqual([]);
    expect(cmp.rows.length).toBe(2 * 3 * 2 + 3);
  });
  it('a large but not significant or small but significant change is not a regression', () => {
    // Improvement (overlay faster) is significant but not a regression.
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 9, overlayShift: 20 }), {
      iterations: 200,
    });
    const p50 = cmp.rows.find((r) => r.mode === 'overlay' && r.metric === 'p50')!;
    expect(p50.significant).toBe(true);
    expect(p50.regressed).toBe(false);
    // +3 µs on ~97 µs is significant but below a 10% threshold.
    const small = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 9, overlayShift: 63 }), {
      iterations: 200,
    });
    expect(small.rows.filter((r) => r.regressed && r.metric === 'p50')).toEqual([]);
  });
  it('throughput regresses downwards', () => {
    const base = syntheticRun({ seed: 1 });
    const cur = syntheticRun({ seed: 1 });
    for (const r of cur.records) if (r.throughput && r.mode === 'native') r.throughput.bitsPerSecond /= 2;
    const rows = compareRuns(base, cur, { iterations: 100 }).rows.filter((r) => r.metric === 'throughput');
    expect(rows.find((r) => r.mode === 'native')!.regressed).toBe(true);
    expect(rows.find((r) => r.mode === 'none')!.regressed).toBe(false);
  });
  it('warns about cells present in one run only', () => {
    const cur = syntheticRun();
    cur.records = cur.records.filter((r) => r.mode !== 'overlay');
    expect(
      compareRuns(syntheticRun(), cur, { iterations: 50 }).warnings.some((w) =>
        w.includes('only in baseline'),
      ),
    ).toBe(true);
  });
  it('parses thresholds', () => {
    expect(parseThreshold('10%')).toBeCloseTo(0.1);
    expect(parseThreshold('10')).toBeCloseTo(0.1);
    expect(parseThreshold('0.05')).toBeCloseTo(0.05);
    expect(parseThreshold('ten')).toBeNull();
  });
});

describe('testbed compare', () => {
  it('exits 1 on a regression, 0 without, and rejects a bad threshold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'compare-cli-'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      writeResults(join(dir, 'base'), syntheticRun({ seed: 1 }));
      writeResults(join(dir, 'slow'), syntheticRun({ seed: 500, overlayShift: 90 }));
      expect(await compareCommand([join(dir, 'base'), join(dir, 'slow'), '--threshold', '10%'])).toBe(1);
      expect(log.mock.calls.some(([l]) => String(l).includes('REGRESSED'))).toBe(true);
      expect(await compareCommand([join(dir, 'base'), join(dir, 'slow'), '--threshold=200%'])).toBe(0);
      await expect(
        compareCommand([join(dir, 'base'), join(dir, 'slow'), '--threshold', 'lots']),
      ).rejects.toThrow(UsageError);
      await expect(compareCommand([join(dir, 'base')])).rejects.toThrow(UsageError);
    } finally {
      log.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
