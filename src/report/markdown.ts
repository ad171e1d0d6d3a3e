// Markdown summary of a run: the same tables as the HTML report, plus links to the PNG figures.
import type { Chart } from './charts.ts';
import type { Table } from './tables.ts';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(t: Table): string {
  const head = `| ${t.columns.map(cell).join(' | ')} |\n|${t.columns.map(() => '---').join('|')}|`;
  const body = t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
  return `${head}\n${body}`;
}

export function renderMarkdown(title: string, tables: Table[], charts: Chart[], notes: string[]): string {
  const parts = [`# ${title}`, ''];
  if (notes.length) parts.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  for (const t of tables) {
    parts.push(`## ${t.title}`, '');
    if (t.note) parts.push(t.note, '');
    parts.push(markdownTable(t), '');
  }
  if (charts.length) {
    parts.push('## Figures', '');
    for (const c of charts)
      parts.push(`### ${c.title}`, '', c.caption, '', `![${c.title}](figures/${c.id}.png)`, '');
  }
  return parts.join('\n');
}
