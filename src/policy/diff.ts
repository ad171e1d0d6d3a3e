// Semantic diff of two truth tables over the same (port, protocol): the cells whose verdicts differ, each with
// the reason both sides give. Used to compare enforcement modes (observed) with the engine (expected). Cells
// name the deciding layer when L7 is involved (`X` denied at L3, `7` denied at L7).

/** Counts of compared cells by expected verdict: allowed, denied at L3, denied at L7. */
export interface LayerTally {
  allowed: { passed: number; failed: number };
  l3: { passed: number; failed: number };
  l7: { passed: number; failed: number };
}

export function emptyTally(): LayerTally {
  return { allowed: { passed: 0, failed: 0 }, l3: { passed: 0, failed: 0 }, l7: { passed: 0, failed: 0 } };
}

/**
 * Adds `observed` vs `expected` to `into`, per expected verdict (self and undefined cells skipped; pairs present
 * in only one table skipped). `skip(from, to)` leaves out cells the caller does not count (e.g. unsupported).
 */
export function tallyByLayer(
  expected: TruthTable,
  observed: TruthTable,
  into: LayerTally = emptyTally(),
  skip?: (from: string, to: string) => boolean,
): LayerTally {
  const oRow = new Map(observed.from.map((r, i) => [r, i]));
  const oCol = new Map(observed.to.map((r, j) => [r, j]));
  expected.from.forEach((f, i) => {
    const oi = oRow.get(f);
    if (oi === undefined) return;
    expected.to.forEach((t, j) => {
      const oj = oCol.get(t);
      if (oj === undefined || skip?.(f, t)) return;
      const e = expected.cells[i]![j]!;
      const o = observed.cells[oi]![oj]!;
      if (e === '-' || o === '-') return;
      const bucket = e === '.' ? into.allowed : e === 'X' ? into.l3 : into.l7;
      if (e === o) bucket.passed++;
      else bucket.failed++;
    });
  });
  return into;
}
import type { EndpointRef } from './model.ts';
import { describeCell, type Cell, type TruthTable } from './truthtable.ts';

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
    lines.push(
      `  ${c.from} -> ${c.to}: ${labelA} ${c.a} (${describeCell(c.a)})  ${labelB} ${c.b} (${describeCell(c.b)})`,
    );
    if (c.reasonA) lines.push(`    ${labelA}: ${c.reasonA}`);
    if (c.reasonB) lines.push(`    ${labelB}: ${c.reasonB}`);
  }
  return lines.join('\n');
}
