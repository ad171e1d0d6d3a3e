// Builds every artefact of a report from a run directory's saved results: analysis.json (every figure's
// numbers), figures/*.vl.json (Vega-Lite specs), figures/*.svg|png, report.html (self-contained) and report.md.
// Nothing here measures; re-running it on the same results gives the same report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readResults, resultsFile, writeFileAtomic } from '../results/store.ts';
import { analyze, type Analysis } from './analyze.ts';
import { allCharts } from './charts.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { renderSvg, svgToPng } from './render.ts';
import { buildTables, maxHalfWidthP50 } from './tables.ts';

export interface ReportOutput {
  html: string;
  markdown: string;
  analysis: Analysis;
  figures: string[];
  maxHalfWidthP50Us: number;
}

export async function writeReport(runDir: string, opts: { iterations?: number } = {}): Promise<ReportOutput> {
  const file = resultsFile(runDir);
  const dir = join(file, '..');
  const run = readResults(file);
  const analysis = analyze(run, { iterations: opts.iterations });
  const charts = allCharts(analysis);
  const figDir = join(dir, 'figures');
  mkdirSync(figDir, { recursive: true });
  const rendered: { chart: (typeof charts)[number]; svg: string }[] = [];
  const figures: string[] = [];
  for (const chart of charts) {
    const svg = await renderSvg(chart.spec);
    writeFileSync(join(figDir, `${chart.id}.vl.json`), JSON.stringify(chart.spec, null, 1));
    writeFileSync(join(figDir, `${chart.id}.svg`), svg);
    const png = join(figDir, `${chart.id}.png`);
    writeFileSync(png, svgToPng(svg));
    figures.push(png);
    rendered.push({ chart, svg });
  }
  const tables = buildTables(run, analysis);
  const title = `Policy overlay testbed — run ${run.runId}`;
  const notes = [...run.modes.missing.map((m) => `mode ${m.mode} did not run: ${m.reason}`), ...run.notes];
  const html = join(dir, 'report.html');
  const markdown = join(dir, 'report.md');
  writeFileAtomic(join(dir, 'analysis.json'), JSON.stringify(analysis) + '\n');
  writeFileAtomic(html, renderHtml(title, tables, rendered, notes));
  writeFileAtomic(markdown, renderMarkdown(title, tables, charts, notes));
  return { html, markdown, analysis, figures, maxHalfWidthP50Us: maxHalfWidthP50(analysis) };
}
