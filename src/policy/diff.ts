// Semantic diff of two truth tables over the same (port, protocol): the cells whose verdicts differ, each with
// the reason both sides give. Used to compare enforcement modes (observed) with the engine (expected).
import type { EndpointRef } from './model.ts';
import type { Cell, TruthTable } from './truthtable.ts';

export interface CellDiff {
  from: EndpointRef;
  to: EndpointRef;
  a: Cell;
  b: Cell;
  reasonA: string;
  reasonB: string;
}

export interface TableDiff {
  port: number | string;
  protocol: string;
  family?: string;
  /** Cells present in both tables that differ (undefined cells, `-`, never count). */
  cells: CellDiff[];
  /** Pairs present in only one of the tables. */
  onlyInA: number;
  onlyInB: number;
  compared: number;
}

export function diffTables(a: TruthTable, b: TruthTable): TableDiff {
  if (a.port !== b.port || a.protocol !== b.protocol || (a.family && b.family && a.family !== b.family))
    throw new Error(
      `cannot diff tables of different probes: ${a.port}/${a.protocol}${a.family ? ` ${a.family}` : ''} vs ${b.port}/${b.protocol}${b.family ? ` ${b.family}` : ''}`,
    );
  const bRow = new Map(b.from.map((r, i) => [r, i]));
  const bCol = new Map(b.to.map((r, j) => [r, j]));
  const cells: CellDiff[] = [];
  let compared = 0;
  let shared = 0;
  a.from.forEach((f, i) => {
    const bi = bRow.get(f);
    if (bi === undefined) return;
    a.to.forEach((t, j) => {
      const bj = bCol.get(t);
      if (bj === undefined) return;
      shared++;
      const ca = a.cells[i]![j]!;
      const cb = b.cells[bi]![bj]!;
      if (ca === '-' || cb === '-') return;
      compared++;
      if (ca !== cb)
        cells.push({
          from: f,
          to: t,
          a: ca,
          b: cb,
          reasonA: a.reason?.(f, t) ?? '',
          reasonB: b.reason?.(f, t) ?? '',
        });
    });
  });
  const family = a.family ?? b.family;
  return {
    port: a.port,
    protocol: a.protocol,
    ...(family ? { family } : {}),
    cells,
    onlyInA: a.from.length * a.to.length - shared,
    onlyInB: b.from.length * b.to.length - shared,
    compared,
  };
}

export function renderDiff(d: TableDiff, labelA = 'a', labelB = 'b', showFamily = false): string {
  const probe = `${d.port}/${d.protocol}${showFamily && d.family ? ` ${d.family}` : ''}`;
  if (d.cells.length === 0) return `${probe}: no differences in ${d.compared} cells`;
  const lines = [`${probe}: ${d.cells.length} of ${d.compared} cells differ`];
  for (const c of d.cells) {
    lines.push(`  ${c.from} -> ${c.to}: ${labelA} ${c.a}  ${labelB} ${c.b}`);
    if (c.reasonA) lines.push(`    ${labelA}: ${c.reasonA}`);
    if (c.reasonB) lines.push(`    ${labelB}: ${c.reasonB}`);
  }
  return lines.join('\n');
}
