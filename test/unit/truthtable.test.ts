import { describe, expect, it } from 'vitest';
import {
  compareWithExpected,
  MatrixError,
  parseExpectedMatrix,
  renderTable,
  tableToJSON,
  truthTables,
} from '../../src/policy/truthtable.ts';
import { diffTables, renderDiff } from '../../src/policy/diff.ts';
import { policy, xyz } from './policy-fixtures.ts';

const denyY = () => xyz([policy('y/deny', { podSelector: {} })]);

describe('truthTables', () => {
  it('defaults to all pods and renders cyclonus-like text', () => {
    const t = truthTables(denyY(), { port: 80, protocol: 'TCP' });
    expect(t.combined.from).toHaveLength(9);
    const text = renderTable(t.combined);
    const lines = text.split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual([
      '-',
      'x/a',
      'x/b',
      'x/c',
      'y/a',
      'y/b',
      'y/c',
      'z/a',
      'z/b',
      'z/c',
    ]);
    expect(lines[1]!.split(/\s+/)).toEqual(['x/a', '-', '.', '.', 'X', 'X', 'X', '.', '.', '.']);
    expect(lines[5]!.split(/\s+/)).toEqual(['y/b', '.', '.', '.', 'X', '-', 'X', '.', '.', '.']);
    // Round trip through the expected-matrix parser.
    expect(parseExpectedMatrix(text).cells).toEqual(t.combined.cells);
  });
  it('separates ingress and egress', () => {
    const s = xyz([policy('x/eg', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] })]);
    const t = truthTables(s, {
      port: 80,
      protocol: 'TCP',
      from: ['x/a', 'x/b'],
      to: ['x/a', 'x/b', 'ext:out'],
    });
    expect(tableToJSON(t.egress).rows).toEqual(['-XX', '.-.']);
    expect(tableToJSON(t.ingress).rows).toEqual(['-..', '.-.']);
    expect(tableToJSON(t.combined).rows).toEqual(['-XX', '.-.']);
    expect(t.combined.reason!('x/a', 'x/b')).toMatch(/egress: x\/a is isolated for egress by x\/eg/);
  });
});

describe('parseExpectedMatrix', () => {
  it('accepts . X - and blank lines', () => {
    const m = parseExpectedMatrix('\n  -  a/b c/d\n a/b - X\n\n c/d . -\n');
    expect(m).toEqual({
      from: ['a/b', 'c/d'],
      to: ['a/b', 'c/d'],
      cells: [
        ['-', 'X'],
        ['.', '-'],
      ],
    });
  });
  it('errors name the line', () => {
    const bad = (text: string, line: number, re: RegExp) => {
      try {
        parseExpectedMatrix(text);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(MatrixError);
        expect((e as MatrixError).line).toBe(line);
        expect((e as Error).message).toMatch(re);
      }
    };
    bad('a/b c/d\n', 1, /start with '-'/);
    bad('- a/b c/d\na/b . X\nc/d . o\n', 3, /'o'.*not one of/);
    bad('- a/b c/d\na/b . X .\n', 2, /3 cells.*2 destinations/);
    bad('- a/b a/b\n', 1, /twice/);
    bad('- a/b\na/b .\na/b .\n', 3, /twice/);
    bad('   \n', 1, /empty/);
    bad('- a/b\n', 1, /no source rows/);
  });
});

describe('compareWithExpected', () => {
  const t = truthTables(denyY(), { port: 80, protocol: 'TCP', from: ['x/a', 'y/a'], to: ['x/a', 'y/a'] });
  it('ignores the diagonal and "-" cells, reports others with reasons', () => {
    expect(compareWithExpected(t.combined, parseExpectedMatrix('- x/a y/a\nx/a X X\ny/a . .'))).toEqual([]);
    const m = compareWithExpected(t.combined, parseExpectedMatrix('- y/a x/a\nx/a . -\ny/a - X'));
    expect(m.map((c) => [c.from, c.to, c.expected, c.actual])).toEqual([
      ['x/a', 'y/a', '.', 'X'],
      ['y/a', 'x/a', 'X', '.'],
    ]);
    expect(m[0]!.reason).toMatch(/y\/deny/);
  });
  it('rejects a matrix over other endpoints', () => {
    expect(() => compareWithExpected(t.combined, parseExpectedMatrix('- x/a z/a\nx/a . .\ny/a . .'))).toThrow(
      /header names/,
    );
    expect(() => compareWithExpected(t.combined, parseExpectedMatrix('- x/a y/a\nx/a . .'))).toThrow(
      /rows name/,
    );
  });
});

describe('diffTables', () => {
  it('lists differing cells with both reasons', () => {
    const a = truthTables(xyz(), { port: 80, protocol: 'TCP' }).combined;
    const b = truthTables(denyY(), { port: 80, protocol: 'TCP' }).combined;
    const d = diffTables(a, b);
    expect(d.compared).toBe(72);
    // 6 other pods × 3 y pods + 2 y peers each for 3 y pods.
    expect(d.cells).toHaveLength(18 + 6);
    expect(d.cells.every((c) => c.a === '.' && c.b === 'X' && c.to.startsWith('y/'))).toBe(true);
    expect(d.cells[0]!.reasonA).toMatch(/not isolated/);
    expect(d.cells[0]!.reasonB).toMatch(/y\/deny/);
    expect(renderDiff(d, 'none', 'engine')).toMatch(/24 of 72 cells differ/);
    expect(diffTables(a, a).cells).toEqual([]);
    expect(() => diffTables(a, truthTables(xyz(), { port: 81, protocol: 'TCP' }).combined)).toThrow(
      /different probes/,
    );
  });
});
