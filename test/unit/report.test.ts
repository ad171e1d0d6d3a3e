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
import { syntheticRun } from './results.fixture.ts';

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
  it('paper table decides each claim by its stated criterion', () => {
    const claims = paperClaims(a, syntheticRun().conformance);
    expect(claims.map((c) => c.holds)).toEqual(['yes', 'yes', 'not measured', 'yes', 'no']);
    const slow = analyze(syntheticRun({ overlayShift: 1500 }), { iterations: 100 });
    expect(paperClaims(slow, [])[0]!.holds).toBe('no');
    expect(paperClaims(slow, [])[3]!.holds).toBe('no');
    expect(paperClaims(slow, [])[4]!.holds).toBe('not measured');
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
    ]);
    const titles =
      JSON.stringify(charts.map((c) => c.spec)).match(/"title":"[^"]*\((µs|ms|Gbit\/s)[^"]*\)"/g) ?? [];
    expect(titles.length).toBeGreaterThanOrEqual(6);
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
    expect(out.figures.length).toBe(6);
    const png = readFileSync(out.figures[0]!);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });
});
