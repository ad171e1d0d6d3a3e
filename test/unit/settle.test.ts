import { describe, expect, it } from 'vitest';
import { busyShare, parseProcStat, settle, type CpuTimes } from '../../src/measure/settle.ts';

const STAT = `cpu  4705 150 1120 1006060 3400 0 250 7 0 0
cpu0 2400 70 560 503000 1700 0 120 3 0 0
intr 12345 0 0
`;

describe('parseProcStat', () => {
  it('reads the aggregate line; idle and iowait are not busy', () => {
    expect(parseProcStat(STAT)).toEqual({ busy: 4705 + 150 + 1120 + 250 + 7, total: 1015692 });
  });
  it('names what is wrong', () => {
    expect(() => parseProcStat('cpu0 1 2 3 4 5\n')).toThrow(/no aggregate "cpu" line/);
    expect(() => parseProcStat('cpu  1 x 3 4 5\n')).toThrow(/cannot read/);
  });
});

describe('busyShare', () => {
  it('is the busy part of the time that passed, clamped to 0..1', () => {
    expect(busyShare({ busy: 10, total: 100 }, { busy: 30, total: 200 })).toBeCloseTo(0.2);
    expect(busyShare({ busy: 10, total: 100 }, { busy: 10, total: 100 })).toBe(0);
    expect(busyShare({ busy: 10, total: 100 }, { busy: 400, total: 200 })).toBe(1);
  });
});

/** A fake clock and /proc/stat whose busy share per window follows `shares`. */
function fake(shares: number[]) {
  let t = 0;
  let cur: CpuTimes = { busy: 0, total: 0 };
  let i = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
      const share = shares[Math.min(i++, shares.length - 1)]!;
      cur = { busy: cur.busy + share * 50, total: cur.total + 50 };
    },
    read: () => cur,
  };
}

describe('settle', () => {
  it('returns after the required number of quiet windows in a row', async () => {
    const r = await settle({ ...fake([0.02, 0.03]), windowMs: 250, quietWindows: 2 });
    expect(r).toEqual({ settled: true, waitedMs: 500, lastBusy: 0.03 });
  });

  it('a busy window resets the count', async () => {
    const r = await settle({ ...fake([0.9, 0.05, 0.6, 0.05, 0.04]), windowMs: 250, quietWindows: 2 });
    expect(r.settled).toBe(true);
    expect(r.waitedMs).toBe(1250);
  });

  it('gives up at the limit and says how busy the last window was', async () => {
    const r = await settle({ ...fake([0.5]), windowMs: 250, quietWindows: 2, maxMs: 2000 });
    expect(r).toEqual({ settled: false, waitedMs: 2000, lastBusy: 0.5 });
  });

  it('reads this machine’s /proc/stat by default', async () => {
    const r = await settle({ windowMs: 20, quietWindows: 1, maxMs: 100, threshold: 1.01 });
    expect(r.settled).toBe(true);
    expect(r.lastBusy).toBeGreaterThanOrEqual(0);
  });
});
