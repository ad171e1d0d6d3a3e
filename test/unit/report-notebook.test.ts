// The analysis notebook runs headless over a stored run and reproduces the report's figures from the raw
// histograms; if the report's numbers disagreed with the stored data, the notebook fails.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeNotebook } from '../../notebooks/run-notebook.ts';
import { writeReport } from '../../src/report/report.ts';
import { writeResults } from '../../src/results/store.ts';
import { syntheticRun } from './results.fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'notebook-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('analysis notebook', () => {
  it('executes every cell, draws the figures and agrees with the report', async () => {
    const runDir = join(dir, 'run');
    writeResults(runDir, syntheticRun());
    await writeReport(runDir, { iterations: 50 });
    const out = join(dir, 'executed.ipynb');
    const { errors } = executeNotebook('notebooks/latency.ipynb', out, { RUN_DIR: runDir });
    expect(errors).toEqual([]);
    const nb = JSON.parse(readFileSync(out, 'utf8')) as {
      cells: {
        cell_type: string;
        outputs?: { output_type: string; text?: string; data?: Record<string, unknown> }[];
      }[];
    };
    const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
    const svgs = outputs.filter(
      (o) => o.output_type === 'display_data' && String(o.data?.['image/svg+xml'] ?? '').includes('<svg'),
    );
    expect(svgs.length).toBe(3);
    expect(outputs.some((o) => o.text?.includes('report agreement: 6 (measurement, mode) cells'))).toBe(true);
  }, 60_000);

  it('fails when the report disagrees with the stored histograms', async () => {
    const runDir = join(dir, 'run');
    const file = join(runDir, 'analysis.json');
    const a = JSON.parse(readFileSync(file, 'utf8'));
    a.latency[0].p50Us += 1;
    writeFileSync(file, JSON.stringify(a));
    const { errors } = executeNotebook('notebooks/latency.ipynb', join(dir, 'bad.ipynb'), {
      RUN_DIR: runDir,
    });
    expect(errors.join('\n')).toMatch(/notebook p50\/p99 .* != report/);
  }, 60_000);
});
