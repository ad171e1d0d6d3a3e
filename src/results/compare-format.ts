// Renderings of a Comparison (pure): text for a terminal, a Markdown table a pull-request comment can carry,
// JSON for scripts. All three say the same things: the verdict per row with its CI, the absolute figures as
// context, the environment differences, and why there is no verdict when there is none.
import { describeEnvDiff } from './env-diff.ts';
import { exitCodeOf, type CompareRow, type Comparison } from './compare.ts';

export type CompareFormat = 'text' | 'markdown' | 'json';
export const COMPARE_FORMATS: readonly CompareFormat[] = ['text', 'markdown', 'json'];

function signed(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return 'n/a';
  const r = Number(v.toFixed(digits));
  return `${r > 0 ? '+' : r < 0 ? '−' : '±'}${Math.abs(r).toFixed(digits)}`;
}

function us(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v)} µs` : 'n/a';
}

/** "+12 µs [+3, +21]" or "−0.05 [−0.10, +0.01]" (ratio points). */
export function fmtChange(r: CompareRow): string {
  const d = r.unit === 'µs' ? 0 : 2;
  const u = r.unit === 'µs' ? ' µs' : '';
  return `${signed(r.change.estimate, d)}${u} [${signed(r.change.lo, d)}, ${signed(r.change.hi, d)}]`;
}

/** The figures of one run for a row: "overlay 240 µs, none 60 µs, added +180 µs" or a throughput ratio. */
export function fmtSide(r: CompareRow, s: CompareRow['baseline']): string {
  if (r.unit === 'µs') return `${r.mode} ${us(s.mode)}, none ${us(s.none)}, added ${signed(s.added)} µs`;
  return `${r.mode} ${s.mode.toFixed(2)}, none ${s.none.toFixed(2)} Gbit/s, ratio ${s.added.toFixed(2)}`;
}

function fmtLimit(r: CompareRow): string {
  return r.unit === 'µs' ? `${Math.round(r.limit)} µs` : r.limit.toFixed(2);
}

/** "REGRESSED" only where it fails the comparison; an ungated row says so. */
function verdictText(r: CompareRow, strong: (s: string) => string): string {
  if (!r.gated) return `${r.verdict} (not gated)`;
  return r.verdict === 'regressed' ? strong(r.verdict) : r.verdict;
}

function what(r: CompareRow): string {
  return r.metric === 'throughput' ? 'throughput ratio to none' : `added ${r.metric}`;
}

export function summaryLine(c: Comparison): string {
  switch (c.status) {
    case 'nothing':
      return 'nothing to compare: the runs share no scenario/measurement with `none` and another mode in both (exit 2)';
    case 'env-mismatch':
      return `cannot compare: the environments differ in ${c.env.mustMatch.length} field(s) that change what is measured (exit 2; --allow-env-diff to compare anyway)`;
    default: {
      const gated = c.rows.filter((r) => r.gated);
      const n = (v: string) => gated.filter((r) => r.verdict === v).length;
      const head = c.status === 'regressed' ? `${n('regressed')} regressed` : 'no regression';
      const other = c.rows.filter((r) => !r.gated && r.verdict === 'regressed').length;
      return (
        `${head}: ${n('regressed')} regressed, ${n('improved')} improved, ${n('same')} same of ${gated.length} gated ` +
        `rows (${c.gate.join(', ')})${other ? `; ${other} regressed among the ${c.rows.length - gated.length} not gated` : ''} ` +
        `(exit ${exitCodeOf(c.status)})`
      );
    }
  }
}

function criterion(c: Comparison): string {
  return (
    `regressed = the change in what a mode adds over \`none\` in the same run has a 95% CI above 0 and exceeds ` +
    `${(c.threshold * 100).toFixed(1)}% of the baseline mode's figure (throughput: ratio to none, CI below 0); ` +
    `gated: ${c.gate.join(', ')}`
  );
}

export function formatText(c: Comparison): string {
  const out = [`baseline ${c.baselineRunId} → run ${c.currentRunId}`, criterion(c)];
  for (const d of c.env.mustMatch) out.push(`environment must match: ${describeEnvDiff(d)}`);
  for (const d of c.env.notes) out.push(`environment note: ${describeEnvDiff(d)}`);
  for (const w of c.warnings) out.push(`warning: ${w}`);
  for (const r of c.rows)
    out.push(
      [
        `${r.path} ${r.kind} ${r.mode}`.padEnd(32),
        what(r).padEnd(26),
        `change ${fmtChange(r)}`.padEnd(36),
        `limit ${fmtLimit(r)}`.padEnd(12),
        verdictText(r, (v) => v.toUpperCase()),
        ` | baseline: ${fmtSide(r, r.baseline)}; current: ${fmtSide(r, r.current)}`,
        r.caveat ? ` | caveat: ${r.caveat}` : '',
      ].join(' '),
    );
  out.push(summaryLine(c));
  return out.join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function formatMarkdown(c: Comparison): string {
  const out = [`**testbed compare**: ${summaryLine(c)}`, '', `Baseline \`${c.baselineRunId}\` → run \`${c.currentRunId}\`; ${criterion(c)}.`, ''];
  if (c.env.mustMatch.length) {
    out.push('Environment differences that change what is measured:', '');
    for (const d of c.env.mustMatch) out.push(`- \`${d.key}\`: ${cell(describeEnvDiff(d).slice(d.key.length + 2))}`);
    out.push('');
  }
  if (c.rows.length) {
    out.push(
      '| path | workload | mode | metric | baseline | current | change [95% CI] | verdict |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const r of c.rows) {
      const v = verdictText(r, (x) => `**${x}**`);
      out.push(
        `| ${[r.path, r.kind, r.mode, what(r), fmtSide(r, r.baseline), fmtSide(r, r.current), fmtChange(r), r.caveat ? `${v} ⚠ ${r.caveat}` : v].map(cell).join(' | ')} |`,
      );
    }
    out.push('');
  }
  if (c.env.notes.length || c.warnings.length) {
    out.push('<details><summary>notes</summary>', '');
    for (const d of c.env.notes) out.push(`- environment: ${cell(describeEnvDiff(d))}`);
    for (const w of c.warnings) out.push(`- ${cell(w)}`);
    out.push('', '</details>');
  }
  return out.join('\n');
}

export function formatJson(c: Comparison): string {
  return JSON.stringify({ exitCode: exitCodeOf(c.status), summary: summaryLine(c), ...c }, null, 1);
}

export function formatComparison(c: Comparison, format: CompareFormat): string {
  return format === 'json' ? formatJson(c) : format === 'markdown' ? formatMarkdown(c) : formatText(c);
}
