import { describe, expect, it } from 'vitest';
import { modeOrder, williamsRow } from '../../src/experiment/order.ts';

/** How often each ordered pair (a right before b) occurs over the first `reps` rows. */
function follows(n: number, reps: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let r = 0; r < reps; r++) {
    const row = williamsRow(n, r);
    for (let i = 1; i < n; i++) {
      const k = `${row[i - 1]}>${row[i]}`;
      out.set(k, (out.get(k) ?? 0) + 1);
    }
  }
  return out;
}

describe('williamsRow', () => {
  it('starts 0, 1, n-1, 2, n-2, … and shifts by one per repetition', () => {
    expect(williamsRow(6, 0)).toEqual([0, 1, 5, 2, 4, 3]);
    expect(williamsRow(6, 1)).toEqual([1, 2, 0, 3, 5, 4]);
    expect(williamsRow(4, 0)).toEqual([0, 1, 3, 2]);
  });

  for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const rows = n % 2 ? 2 * n : n;
    it(`n=${n}: every row is a permutation; every mode in every position and after every other equally often over ${rows} rows`, () => {
      const pos = Array.from({ length: n }, () => new Array<number>(n).fill(0));
      for (let r = 0; r < rows; r++) {
        const row = williamsRow(n, r);
        expect([...row].sort((a, b) => a - b)).toEqual([...Array(n).keys()]);
        row.forEach((m, i) => pos[m]![i]!++);
      }
      for (const p of pos) expect(new Set(p)).toEqual(new Set([rows / n]));
      const f = follows(n, rows);
      expect(f.size).toBe(n * (n - 1));
      expect(new Set(f.values())).toEqual(new Set(n > 1 ? [rows / n] : []));
    });
  }

  it('is periodic (rows repeat after the full design)', () => {
    expect(williamsRow(4, 5)).toEqual(williamsRow(4, 1));
    expect(williamsRow(7, 15)).toEqual(williamsRow(7, 1));
    expect(williamsRow(7, 8)).not.toEqual(williamsRow(7, 1));
  });

  it('refuses what is not a count', () => {
    expect(() => williamsRow(-1, 0)).toThrow(/n must be/);
    expect(() => williamsRow(3, 1.5)).toThrow(/rep must be/);
  });
});

describe('modeOrder', () => {
  const suite = ['none', 'native', 'overlay', 'overlay-ebpf', 'none+l7', 'native+l7', 'overlay+l7'];

  it('keeps the listed order in the first repetition', () => {
    expect(modeOrder(suite, 0)[0]).toBe('none');
    expect(modeOrder(['a', 'b'], 0)).toEqual(['a', 'b']);
    expect(modeOrder(['a', 'b'], 1)).toEqual(['b', 'a']);
  });

  it('gives overlay-ebpf a different predecessor in each of the suite’s 3 repetitions', () => {
    const before = [0, 1, 2].map((r) => {
      const o = modeOrder(suite, r);
      return o[o.indexOf('overlay-ebpf') - 1] ?? '(first)';
    });
    expect(new Set(before).size).toBe(3);
  });
});
