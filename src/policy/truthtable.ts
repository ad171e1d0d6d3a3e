// Truth tables: ingress, egress and combined verdicts over sources × destinations for one (port, protocol),
// computed from row/column bitsets (no per-cell selector work), rendered like cyclonus (`.` allowed, `X`
// denied, `-` undefined: a pod reaching itself), as JSON, and parsed back from a scenario's `expected` text.
// With AuthorizationPolicy (src/policy/authz/table.ts) `X` means denied at L3 (no connection) and `7` denied at
// L7 (the destination's sidecar answers HTTP 403, or closes a TCP connection it accepted).
import type { ClusterState, EndpointRef, IPFamily, Protocol } from './model.ts';
import { bitHas, type Bitset } from './bitset.ts';
import { compileState, type CompiledState } from './compile.ts';
import { egressAllowed, ingressAllowed, verdict, type Verdict } from './engine.ts';
import { familyOf } from './family.ts';

/**
 * `7`: denied at L7 (see above). `E` appears only in observed tables: the probe could not run (its reason says
 * why); it never matches a verdict.
 */
export type Cell = '.' | 'X' | '-' | '7' | 'E';

/** Words for a cell, for diffs and mismatch listings. */
export function describeCell(c: Cell): string {
  return {
    '.': 'allowed',
    X: 'denied at L3',
    '7': 'denied at L7',
    '-': 'undefined (self)',
    E: 'error (the probe could not run)',
  }[c];
}
export type TableKind = 'ingress' | 'egress' | 'combined';

export interface TruthTable {
  kind: TableKind;
  port: number | string;
  protocol: Protocol;
  /** The connections' address family; absent for tables of a single-stack world made before families. */
  family?: IPFamily;
  from: EndpointRef[];
  to: EndpointRef[];
  /** cells[i][j]: from[i] → to[j]. */
  cells: Cell[][];
  /** Why a cell has its value (lazy: reasons for a million cells are built only when asked for). */
  reason?: (from: EndpointRef, to: EndpointRef) => string;
}

export interface TruthTables {
  ingress: TruthTable;
  egress: TruthTable;
  combined: TruthTable;
}

export interface ProbeSelection {
  port: number | string;
  protocol: Protocol;
  /** Default: every pod, in state order. */
  from?: EndpointRef[];
  to?: EndpointRef[];
  /**
   * The family the probe's connections use. Sources and destinations without an address of that family are
   * left out of the table (no such connection exists). Absent: every endpoint, each flow in its first common
   * family (exact for a single-family state).
   */
  family?: IPFamily;
}

/** One line per direction, for mismatch listings and --explain. */
export function explainVerdict(v: Verdict): string {
  const head = v.allowed === 'undefined' ? 'undefined (pod to itself)' : v.allowed ? 'allowed' : 'denied';
  return `${head}; egress: ${v.egress.reason}; ingress: ${v.ingress.reason}`;
}

export function truthTables(state: ClusterState | CompiledState, probe: ProbeSelection): TruthTables {
  const cs = 'caches' in state ? state : compileState(state);
  const family = probe.family;
  const has = (r: EndpointRef) =>
    family === undefined || cs.endpoints[index(cs, r)]!.ips.some((a) => familyOf(a) === family);
  const pods = cs.endpoints.slice(0, cs.podCount).map((e) => e.ref);
  const from = (probe.from ?? pods).filter(has);
  const to = (probe.to ?? pods).filter(has);
  const fromIdx = from.map((r) => index(cs, r));
  const toIdx = to.map((r) => index(cs, r));
  const { protocol, port } = probe;
  const ingressCols: (Bitset | null)[] = toIdx.map((d) => ingressAllowed(cs, d, protocol, port, family));
  // One byte per cell (bit 1: ingress allows, bit 2: egress allows, bit 4: self); the ingress and egress
  // Cell arrays are built only when read, so the combined table alone costs one pass.
  const n = toIdx.length;
  const bits = new Uint8Array(fromIdx.length * n);
  const comb: Cell[][] = new Array(fromIdx.length);
  fromIdx.forEach((s, r) => {
    const eg = egressAllowed(cs, s, protocol, port, family);
    const row: Cell[] = new Array(n);
    const off = r * n;
    for (let j = 0; j < n; j++) {
      const d = toIdx[j]!;
      if (s === d) {
        bits[off + j] = 4;
        row[j] = '-';
        continue;
      }
      const col = ingressCols[j]!;
      const v = (col === null || bitHas(col, s) ? 1 : 0) | (eg === null || bitHas(eg, d) ? 2 : 0);
      bits[off + j] = v;
      row[j] = v === 3 ? '.' : 'X';
    }
    comb[r] = row;
  });
  const cellsOf = (mask: number): Cell[][] =>
    fromIdx.map((_, r) => {
      const row: Cell[] = new Array(n);
      for (let j = 0; j < n; j++) {
        const v = bits[r * n + j]!;
        row[j] = v & 4 ? '-' : v & mask ? '.' : 'X';
      }
      return row;
    });
  const why = (dir: 'ingress' | 'egress' | 'combined') => (f: EndpointRef, t: EndpointRef) => {
    const v = verdict(cs, { from: f, to: t, port, protocol, family });
    return dir === 'combined' ? explainVerdict(v) : v[dir].reason;
  };
  const lazy = (kind: 'ingress' | 'egress', mask: number): TruthTable => {
    let cells: Cell[][] | undefined;
    return {
      kind,
      port,
      protocol,
      ...(family ? { family } : {}),
      from,
      to,
      get cells() {
        return (cells ??= cellsOf(mask));
      },
      reason: why(kind),
    };
  };
  return {
    ingress: lazy('ingress', 1),
    egress: lazy('egress', 2),
    combined: {
      kind: 'combined',
      port,
      protocol,
      ...(family ? { family } : {}),
      from,
      to,
      cells: comb,
      reason: why('combined'),
    },
  };
}

function index(cs: CompiledState, ref: EndpointRef): number {
  const i = cs.byRef.get(ref);
  if (i === undefined) throw new Error(`unknown endpoint '${ref}'`);
  return i;
}

/** Cyclonus-like text: a header row `-` + destinations, then one row per source; columns aligned. */
export function renderTable(t: Pick<TruthTable, 'from' | 'to' | 'cells'>): string {
  const w0 = Math.max(1, ...t.from.map((r) => r.length));
  const widths = t.to.map((r) => Math.max(1, r.length));
  const line = (first: string, cols: string[]) =>
    [first.padEnd(w0), ...cols.map((c, j) => c.padEnd(widths[j]!))].join(' ').trimEnd();
  return [line('-', t.to), ...t.from.map((f, i) => line(f, t.cells[i]!))].join('\n');
}

export interface TableJSON {
  kind: TableKind;
  port: number | string;
  protocol: Protocol;
  family?: IPFamily;
  from: EndpointRef[];
  to: EndpointRef[];
  /** One string per source, one character per destination. */
  rows: string[];
}

export function tableToJSON(t: TruthTable): TableJSON {
  return {
    kind: t.kind,
    port: t.port,
    protocol: t.protocol,
    ...(t.family ? { family: t.family } : {}),
    from: t.from,
    to: t.to,
    rows: t.cells.map((r) => r.join('')),
  };
}

/** `80/TCP`, or `80/TCP IPv6` when `showFamily` (the scenario has more than one family). */
export function probeLabel(
  p: { port: number | string; protocol: string; family?: IPFamily },
  showFamily: boolean,
): string {
  return `${p.port}/${p.protocol}${showFamily && p.family ? ` ${p.family}` : ''}`;
}

export interface ExpectedMatrix {
  from: EndpointRef[];
  to: EndpointRef[];
  cells: Cell[][];
}

/** Thrown for a malformed expected matrix; `line` is 1-based within the matrix text. */
export class MatrixError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * Parses the text form: whitespace-separated tokens; the first non-blank line is `-` then destination refs; each
 * further non-blank line is a source ref then one of `.` `X` `7` `-` per destination.
 */
export function parseExpectedMatrix(text: string): ExpectedMatrix {
  const lines = text.split('\n').map((l, i) => ({ n: i + 1, tokens: l.trim().split(/\s+/).filter(Boolean) }));
  const nonBlank = lines.filter((l) => l.tokens.length > 0);
  const header = nonBlank[0];
  if (!header) throw new MatrixError(1, 'empty matrix');
  if (header.tokens[0] !== '-')
    throw new MatrixError(header.n, `the header row must start with '-' (found '${header.tokens[0]}')`);
  const to = header.tokens.slice(1);
  if (to.length === 0) throw new MatrixError(header.n, 'the header row names no destinations');
  const dupTo = to.find((r, i) => to.indexOf(r) !== i);
  if (dupTo) throw new MatrixError(header.n, `destination '${dupTo}' appears twice`);
  const from: EndpointRef[] = [];
  const cells: Cell[][] = [];
  for (const l of nonBlank.slice(1)) {
    const [src, ...vals] = l.tokens as [string, ...string[]];
    if (vals.length !== to.length)
      throw new MatrixError(
        l.n,
        `row '${src}' has ${vals.length} cells, the header names ${to.length} destinations`,
      );
    if (from.includes(src)) throw new MatrixError(l.n, `source '${src}' appears twice`);
    const bad = vals.find((v) => v !== '.' && v !== 'X' && v !== '7' && v !== '-');
    if (bad !== undefined)
      throw new MatrixError(l.n, `cell '${bad}' in row '${src}' is not one of '.', 'X', '7', '-'`);
    from.push(src);
    cells.push(vals as Cell[]);
  }
  if (from.length === 0) throw new MatrixError(header.n, 'the matrix has no source rows');
  return { from, to, cells };
}

export interface CellMismatch {
  from: EndpointRef;
  to: EndpointRef;
  expected: Cell;
  actual: Cell;
  reason: string;
}

/**
 * Cells where `actual` disagrees with `expected`. A pod reaching itself and cells expected as `-` are not
 * compared (undefined by the spec). The expected matrix must name the same sources and destinations (any order).
 */
export function compareWithExpected(actual: TruthTable, expected: ExpectedMatrix): CellMismatch[] {
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
  if (!sameSet(actual.from, expected.from))
    throw new MatrixError(
      1,
      `rows name ${fmt(expected.from)} but the probe's sources are ${fmt(actual.from)}`,
    );
  if (!sameSet(actual.to, expected.to))
    throw new MatrixError(
      1,
      `the header names ${fmt(expected.to)} but the probe's destinations are ${fmt(actual.to)}`,
    );
  const out: CellMismatch[] = [];
  const col = new Map(actual.to.map((r, j) => [r, j]));
  const row = new Map(actual.from.map((r, i) => [r, i]));
  expected.from.forEach((f, ei) =>
    expected.to.forEach((t, ej) => {
      const exp = expected.cells[ei]![ej]!;
      const act = actual.cells[row.get(f)!]![col.get(t)!]!;
      if (f === t || exp === '-' || act === '-' || exp === act) return;
      out.push({
        from: f,
        to: t,
        expected: exp,
        actual: act,
        reason: actual.reason ? actual.reason(f, t) : '',
      });
    }),
  );
  return out;
}

function fmt(refs: string[]): string {
  return refs.length > 6 ? `${refs.slice(0, 6).join(' ')} … (${refs.length})` : refs.join(' ');
}
