// Headless notebook runner for TypeScript notebooks (no Jupyter needed): executes a .ipynb's code cells in
// order as ONE module (so cells share variables, like a kernel session) with tsx, splits the output back into
// cells, and writes an executed copy with stream and display outputs (SVG images, Vega-Lite specs).
// usage: npx tsx notebooks/run-notebook.ts <notebook.ipynb> <executed-out.ipynb> [RUN_DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

const CELL = '\u0001CELL ';
const DISPLAY = '\u0001DISPLAY ';
const here = dirname(fileURLToPath(import.meta.url));

export function executeNotebook(
  input: string,
  output: string,
  env: Record<string, string> = {},
): { errors: string[] } {
  const nb = JSON.parse(readFileSync(input, 'utf8')) as Notebook;
  const code = nb.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === 'code');
  const src = (c: Cell) => (Array.isArray(c.source) ? c.source.join('') : c.source);
  // Imports are hoisted by ESM anyway; keep them at the top so the module is valid.
  const imports: string[] = [];
  const bodies = code.map(({ c, i }) => {
    const lines = src(c)
      .split('\n')
      .filter((l) => {
        if (/^import\s/.test(l)) {
          imports.push(l.replace(/(['"])\.\.\//g, `$1${resolve(here, '..')}/`));
          return false;
        }
        return true;
      });
    return `process.stdout.write(${JSON.stringify(`${CELL}${i}\n`)});\n${lines.join('\n')}`;
  });
  const display = `const display = (data: { svg?: string; vegalite?: unknown; text?: string }) => process.stdout.write(${JSON.stringify(DISPLAY)} + JSON.stringify(data) + '\\n');`;
  const dir = mkdtempSync(join(tmpdir(), 'nb-'));
  const file = join(dir, 'notebook.mts');
  writeFileSync(file, [...imports, display, ...bodies].join('\n'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: resolve(here, '..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  rmSync(dir, { recursive: true, force: true });
  const outputs = new Map<number, unknown[]>();
  let current = -1;
  let text = '';
  const flush = () => {
    if (current >= 0 && text) outputs.get(current)!.push({ output_type: 'stream', name: 'stdout', text });
    text = '';
  };
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith(CELL)) {
      flush();
      current = Number(line.slice(CELL.length));
      outputs.set(current, []);
    } else if (line.startsWith(DISPLAY) && current >= 0) {
      flush();
      const d = JSON.parse(line.slice(DISPLAY.length)) as { svg?: string; vegalite?: unknown; text?: string };
      const data: Record<string, unknown> = { 'text/plain': d.text ?? '<figure>' };
      if (d.svg) data['image/svg+xml'] = d.svg;
      if (d.vegalite) data['application/vnd.vegalite.v5+json'] = d.vegalite;
      outputs.get(current)!.push({ output_type: 'display_data', data, metadata: {} });
    } else if (current >= 0) text += `${line}\n`;
  }
  flush();
  const errors: string[] = [];
  if (r.status !== 0) {
    errors.push(r.stderr.trim() || `exit ${r.status}`);
    if (current >= 0)
      outputs.get(current)!.push({
        output_type: 'error',
        ename: 'Error',
        evalue: r.stderr.trim().split('\n').slice(-5).join('\n'),
        traceback: [],
      });
  }
  let n = 0;
  for (const { c, i } of code) {
    c.outputs = outputs.get(i) ?? [];
    c.execution_count = outputs.has(i) ? ++n : null;
  }
  writeFileSync(output, JSON.stringify(nb, null, 1) + '\n');
  return { errors };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [input, output, runDir] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: npx tsx notebooks/run-notebook.ts <notebook.ipynb> <executed-out.ipynb> [RUN_DIR]');
    process.exit(2);
  }
  const { errors } = executeNotebook(input, output, runDir ? { RUN_DIR: resolve(runDir) } : {});
  if (errors.length) {
    console.error(errors.join('\n'));
    process.exit(1);
  }
  console.log(`executed: ${output}`);
}
