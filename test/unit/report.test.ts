import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeHistogram, mergeHistograms } from '../../src/measure/histogram.ts';
import { analyze } from '../../src/report/analyze.ts';
import { allCharts } from '../../src/report/charts.ts';
import { paperClaims } from '../../src/report/paper.ts';
import { repsFor } from '../../src/report/tables.ts';
import { writeReport } from '../../src/report/report.ts';
import { readResults, writeResults } from '../../src/results/store.ts';
import { POD_SWEEP, syntheticRun } from './results.fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'report-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('analysis', () => {
  const a = analyze(syntheticRun(), { iterations: 200 });
  it('recovers the per-mode shifts as added latency with CIs', () => {
    const ov = a.added.find((r) => r.mode === 'overlay' && r.path === 'same-node')!;
    expect(ov.p50.lo).toBeLessThanOrEqual(60);
    expect(ov.p50.hi).toBeGreaterThanOrEqual(60);
    const nat = a.added.find((r) => r.mode === 'native' && r.path === 'same-node')!;
    expect(nat.p50.lo).toBeLessThanOrEqual(5);
    expect(nat.p50.hi).toBeGreaterThanOrEqual(5);
    expect(a.added.some((r) => r.mode === 'none')).toBe(false);
  });
  it('keeps the sweep apart from the matrix and joins programming times', () => {
    expect(a.latency.every((r) => r.repetitions === 3)).toBe(true);
    expect(a.sweep.map((r) => [r.mode, r.policies])).toEqual([
      ['native', 1],
      ['native', 10],
      ['native', 100],
      ['overlay', 1],
      ['overlay', 10],
      ['overlay', 100],
    ]);
    expect(a.sweep.every((r) => r.p50Us !== undefined && r.programmingMs !== undefined)).toBe(true);
  });
  it('keeps the pod-count sweep apart from the policy sweep', () => {
    expect(a.podSweep.map((r) => [r.mode, r.pods])).toEqual(
      ['native', 'overlay'].flatMap((m) => POD_SWEEP.map((n) => [m, n])),
    );
    expect(a.podSweep.every((r) => r.p50Us !== undefined)).toBe(true);
    expect(a.podSweep.filter((r) => r.programmingMs === undefined).map((r) => r.pods)).toEqual([2, 2]);
    expect(a.podSweep.find((r) => r.mode === 'overlay' && r.pods === 52)!.programmingMs).toBe(9 + 52 * 0.5);
    expect(a.latency.some((r) => r.measurement.startsWith('sweep'))).toBe(false);
  });
  it('paper table decides each claim by its stated criterion', () => {
    const claims = paperClaims(a, syntheticRun().conformance);
    expect(claims.map((c) => c.holds)).toEqual([
      'yes',
      'yes',
      'not measured',
      'yes',
      'no',
      'not measured',
      'not measured',
    ]);
    const slow = analyze(syntheticRun({ overlayShift: 1500 }), { iterations: 100 });
    expect(paperClaims(slow, [])[0]!.holds).toBe('no');
    expect(paperClaims(slow, [])[3]!.holds).toBe('no');
    expect(paperClaims(slow, [])[4]!.holds).toBe('not measured');
    expect(paperClaims(slow, [])[3]!.measured).toMatch(/^past the bound: /);
    // overlay − native right at the 100 µs bound: the CI spans it, and the run cannot tell.
    const edge = analyze(syntheticRun({ overlayShift: 105 }), { iterations: 200 });
    const vs = edge.overlayVsNative.filter((r) => r.mode === 'overlay');
    expect(vs.some((r) => r.p50.lo < 100 && r.p50.hi >= 100)).toBe(true);
    expect(paperClaims(edge, [])[3]!.holds).toBe('inconclusive');
    expect(paperClaims(edge, [])[0]!.holds).toBe('yes');
  });
  it('every chart has titled axes with units', () => {
    const charts = allCharts(a);
    expect(charts.map((c) => c.id)).toEqual([
      'added-p50',
      'added-p99',
      'cdf-udp-rr',
      'throughput',
      'sweep-latency',
      'sweep-programming',
      'sweep-pods-latency',
      'sweep-pods-programming',
    ]);
    const titles =
      JSON.stringify(charts.map((c) => c.spec)).match(/"title":"[^"]*\((µs|ms|Gbit\/s)[^"]*\)"/g) ?? [];
    expect(titles.length).toBeGreaterThanOrEqual(6);
  });
  it('pod-sweep charts plot pods in force on a labelled integer axis, one series per mode', () => {
    const charts = allCharts(a);
    for (const [id, field, unit] of [
      ['sweep-pods-latency', 'p50Us', 'µs'],
      ['sweep-pods-programming', 'programmingMs', 'ms'],
    ] as const) {
      const c = charts.find((x) => x.id === id)!;
      const enc = c.spec.encoding as Record<string, { field?: string; title?: string; scale?: object }>;
      expect(enc.x).toMatchObject({ field: 'pods', title: 'number of pods', axis: { format: 'd' } });
      expect(enc.x!.scale).toEqual({ zero: true });
      expect(enc.y!.title).toContain(`(${unit})`);
      expect(enc.color!.field).toBe('mode');
      const values = (c.spec.data as { values: { mode: string; pods: number; value: number }[] }).values;
      expect(values.map((v) => [v.mode, v.pods, v.value])).toEqual(
        a.podSweep.filter((r) => r[field] !== undefined).map((r) => [r.mode, r.pods, r[field]]),
      );
      expect(c.caption).toMatch(/pods in force/);
    }
    expect(charts.find((x) => x.id === 'sweep-pods-latency')!.spec.encoding).toMatchObject({
      y: { title: 'p50 round-trip latency, udp-rr (µs)' },
    });
  });
  it('leaves the pod charts out when no pod sweep ran', () => {
    const ids = allCharts({ ...a, podSweep: [] }).map((c) => c.id);
    expect(ids).toContain('sweep-latency');
    expect(ids.some((id) => id.startsWith('sweep-pods'))).toBe(false);
  });
});

describe('repetitions for a target interval', () => {
  it('scales with the squared ratio of half-widths and never goes below what ran', () => {
    expect(repsFor(10, 3, 5)).toBe(12);
    expect(repsFor(2, 3, 5)).toBe(3);
    expect(repsFor(NaN, 3, 5)).toBeNaN();
  });
});

describe('report from a stored run', () => {
  it('re-derives the p50 in the report from the stored histogram', async () => {
    const runDir = join(dir, 'run');
    writeResults(runDir, syntheticRun());
    const out = await writeReport(runDir, { iterations: 100 });
    const stored = readResults(runDir);
    const recs = stored.records.filter(
      (r) => r.measurement === 'udp-same-node' && r.mode === 'overlay' && r.policies === undefined,
    );
    const merged = mergeHistograms(recs.map((r) => decodeHistogram(r.latency!.histogram)));
    const analysis = JSON.parse(readFileSync(join(runDir, 'analysis.json'), 'utf8'));
    const row = analysis.latency.find(
      (r: { measurement: string; mode: string }) => r.measurement === 'udp-same-node' && r.mode === 'overlay',
    );
    expect(row.p50Us).toBe(merged.getValueAtPercentile(50));
    expect(row.p99Us).toBe(merged.getValueAtPercentile(99));
    const md = readFileSync(out.markdown, 'utf8');
    expect(md).toContain(
      `| same-node | udp-rr | overlay | 3 | 6000 | ${merged.getValueAtPercentile(50)} µs |`,
    );
    const html = readFileSync(out.html, 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(cdn|unpkg)/);
    expect(out.figures.length).toBe(8);
    expect(html).toContain('id="fig-sweep-pods-programming"');
    expect(md).toContain('![Programming time vs number of pods](figures/sweep-pods-programming.png)');
    expect(md).toContain('## Scale sweep: latency and programming time vs number of pods');
    const png = readFileSync(out.figures[0]!);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });
});
