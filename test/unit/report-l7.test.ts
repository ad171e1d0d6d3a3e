// The mesh's rows in a report: +l7 cells against the same mode without sidecars (p50/p90/p99), the HTTP RR goal
// judged on those figures, and the L3–L7 conformance row.
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/report/analyze.ts';
import { l7AddedTable, l7Claims } from '../../src/report/l7.ts';
import type { ConformanceRecord, RunResults } from '../../src/results/schema.ts';
import { latencyRecord, syntheticRun } from './results.fixture.ts';

/** native and native+l7 HTTP cells; the mesh adds `l7Us` to every request. */
function runWithL7(l7Us: number): RunResults {
  const run = syntheticRun();
  const http = { measurement: 'http-cross', kind: 'http' as const };
  for (let rep = 0; rep < 3; rep++) {
    run.records.push(latencyRecord('native', 'cross-node', rep, 100, 10 + rep, 2000, http));
    run.records.push(latencyRecord('native+l7', 'cross-node', rep, 100 + l7Us, 20 + rep, 2000, http));
  }
  return run;
}

const conf = (mode: string, passed: number, failed: number): ConformanceRecord => ({
  mode,
  passed,
  failed,
  unsupported: 0,
  total: passed + failed,
  source: 'conformance-l7',
});

describe('L7 rows', () => {
  it('measures +l7 against the same mode, not against none', () => {
    const a = analyze(runWithL7(150), { iterations: 200 });
    expect(a.l7Added).toHaveLength(1);
    const r = a.l7Added[0]!;
    expect([r.mode, r.base, r.kind]).toEqual(['native+l7', 'native', 'http']);
    // A constant shift moves every percentile by about the shift.
    for (const p of [r.p50, r.p90, r.p99]) expect(Math.abs(p.estimate - 150)).toBeLessThan(15);
    const t = l7AddedTable(a)!;
    expect(t.rows[0]!.slice(0, 4)).toEqual(['cross-node', 'http', 'native+l7', 'native']);
    expect(t.rows[0]![7]).toBe('met');
    expect(t.note).toContain('+0.228 ms p90 / +0.298 ms p99');
  });
  it('judges the HTTP RR goal on the added p50 and p99', () => {
    const ok = l7Claims(analyze(runWithL7(150), { iterations: 100 }), [])[1]!;
    expect(ok.holds).toBe('yes');
    const slow = l7Claims(analyze(runWithL7(400), { iterations: 100 }), [])[1]!;
    expect(slow.holds).toBe('no');
    expect(l7AddedTable(analyze(runWithL7(400), { iterations: 100 }))!.rows[0]![7]).toBe('missed');
    expect(l7Claims(analyze(syntheticRun(), { iterations: 100 }), [])[1]!.holds).toBe('not measured');
  });
  it('L3–L7 end to end holds only when every +l7 mode agrees on every cell', () => {
    const a = analyze(syntheticRun(), { iterations: 100 });
    expect(
      l7Claims(a, [conf('native', 5, 0), conf('native+l7', 10, 0), conf('overlay+l7', 10, 0)])[0]!.holds,
    ).toBe('yes');
    expect(l7Claims(a, [conf('native+l7', 10, 0), conf('overlay+l7', 9, 1)])[0]!.holds).toBe('no');
    expect(l7Claims(a, [conf('native', 5, 0)])[0]!.holds).toBe('not measured');
  });
});
