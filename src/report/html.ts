// One self-contained HTML report: inline SVG figures and tables, no scripts, no CDN, readable offline.
import type { Chart } from './charts.ts';
import type { Table } from './tables.ts';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlTable(t: Table): string {
  const head = `<tr>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${c === 'yes' || c === 'no' || c === 'inconclusive' ? ` class="${c}"` : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<section id="${escapeHtml(t.id)}"><h2>${escapeHtml(t.title)}</h2>${t.note ? `<p class="note">${escapeHtml(t.note)}</p>` : ''}<table>${head}\n${body}</table></section>`;
}

const STYLE = `body{font-family:'DejaVu Sans',sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.yes{background:#e3f6e3}td.no{background:#fbe3e3}td.inconclusive{background:#fdf3d8}.note{color:#555;font-size:13px}
figure{margin:1em 0 2em}figcaption{color:#555;font-size:13px;max-width:900px}ul.notes li{color:#a33}`;

export function renderHtml(
  title: string,
  tables: Table[],
  charts: { chart: Chart; svg: string }[],
  notes: string[],
): string {
  const figs = charts
    .map(
      ({ chart, svg }) =>
        `<figure id="fig-${escapeHtml(chart.id)}">${svg}<figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`,
    )
    .join('\n');
  const [first, ...rest] = tables;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
${first ? htmlTable(first) : ''}
<h2>Figures</h2>
${figs}
${rest.map(htmlTable).join('\n')}
</body></html>
`;
}
