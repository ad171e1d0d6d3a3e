import { describe, expect, it } from 'vitest';
import { createHistogram, encodeHistogram, recordUs, summarize } from '../../src/measure/histogram.ts';
import { prng } from '../../src/measure/stats.ts';
import { compareRuns, exitCodeOf, parseThreshold, rethreshold } from '../../src/results/compare.ts';
import type { RunResults } from '../../src/results/schema.ts';
import { syntheticRun } from './results.fixture.ts';

const FAST = { iterations: 300 };
const regressed = <T extends { verdict: string }>(rs: T[]) => rs.filter((r) => r.verdict === 'regressed');

describe('compare: added latency over none in the same run', () => {
  it('a machine that got slower (every mode +40 µs) is not an enforcer regression; absolutes still show it', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 500, baseShift: 40 }), FAST);
    expect(cmp.status).toBe('ok');
    expect(regressed(cmp.rows)).toEqual([]);
    const row = cmp.rows.find((r) => r.mode === 'overlay' && r.metric === 'p50' && r.path === 'same-node')!;
    expect(row.current.none - row.baseline.none).toBeGreaterThan(35);
    expect(row.current.mode - row.baseline.mode).toBeGreaterThan(35);
    expect(Math.abs(row.change.estimate)).toBeLessThan(5);
    expect(row.change.lo).toBeLessThan(0);
    expect(row.change.hi).toBeGreaterThan(0);
  });

  it('a shift in `none` alone is not a regression (the modes add less)', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 500, noneShift: 40 }), FAST);
    expect(regressed(cmp.rows)).toEqual([]);
    expect(cmp.status).toBe('ok');
    const p50 = cmp.rows.filter((r) => r.metric === 'p50');
    expect(p50.every((r) => r.verdict === 'improved')).toBe(true);
  });

  it('a +30 µs shift of overlay alone regresses overlay and nothing else, with the shift inside the CI', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 500, overlayShift: 90 }), FAST);
    expect(cmp.status).toBe('regressed');
    expect(exitCodeOf(cmp.status)).toBe(1);
    expect(new Set(regressed(cmp.rows).map((r) => r.mode))).toEqual(new Set(['overlay']));
    const p50 = cmp.rows.filter((r) => r.mode === 'overlay' && r.metric === 'p50');
    expect(p50.map((r) => r.verdict)).toEqual(['regressed', 'regressed']);
    for (const r of p50) {
      expect(r.change.lo).toBeLessThanOrEqual(30);
      expect(r.change.hi).toBeGreaterThanOrEqual(30);
      expect(r.current.added - r.baseline.added).toBeCloseTo(r.change.estimate, 6);
    }
  });

  it('fresh samples of the same distributions do not regress; one row per mode × metric × cell', () => {
    const cmp = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 777 }), FAST);
    expect(cmp.status).toBe('ok');
    // 2 latency cells × 2 modes × (p50, p99) + 1 throughput cell × 2 modes; `none` is the reference, no row.
    expect(cmp.rows.length).toBe(2 * 2 * 2 + 2);
    expect(cmp.rows.some((r) => r.mode === 'none')).toBe(false);
    // Sweep records (policies/pods set) are not matrix cells.
    expect(cmp.rows.some((r) => r.measurement.startsWith('sweep'))).toBe(false);
  });

  it('an improvement is not a regression; a significant change below the threshold is "same"', () => {
    const faster = compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 9, overlayShift: 20 }), FAST);
    expect(
      faster.rows.filter((r) => r.mode === 'overlay' && r.metric === 'p50').map((r) => r.verdict),
    ).toEqual(['improved', 'improved']);
    expect(faster.status).toBe('ok');
    // +6 µs on ~100 µs of overlay: significant, but under 10% of the baseline figure; over 2%.
    const small = (threshold: number) =>
      compareRuns(syntheticRun({ seed: 1 }), syntheticRun({ seed: 9, overlayShift: 66 }), {
        ...FAST,
        threshold,
      })
        .rows.filter((r) => r.mode === 'overlay' && r.metric === 'p50')
        .map((r) => r.verdict);
    expect(small(0.1)).toEqual(['same', 'same']);
    expect(small(0.02)).toEqual(['regressed', 'regressed']);
  });

  it('throughput: the ratio to none regresses downwards; none alone getting slower does not', () => {
    const cur = syntheticRun({ seed: 1 });
    for (const r of cur.records) if (r.throughput && r.mode === 'native') r.throughput.bitsPerSecond /= 2;
    const rows = compareRuns(syntheticRun({ seed: 1 }), cur, FAST).rows.filter(
      (r) => r.metric === 'throughput',
    );
    const native = rows.find((r) => r.mode === 'native')!;
    expect(native.verdict).toBe('regressed');
    expect(native.baseline.added).toBeCloseTo(1, 1);
    expect(native.current.added).toBeCloseTo(0.5, 1);
    expect(rows.find((r) => r.mode === 'overlay')!.verdict).toBe('same');
    // Reported, but only a gate that names throughput fails on it (DEFAULT_GATE is p50).
    expect(compareRuns(syntheticRun({ seed: 1 }), cur, FAST).status).toBe('ok');
    expect(compareRuns(syntheticRun({ seed: 1 }), cur, { ...FAST, gate: ['p50', 'throughput'] }).status).toBe(
      'regressed',
    );

    const halfSpeed = syntheticRun({ seed: 1 });
    for (const r of halfSpeed.records) if (r.throughput) r.throughput.bitsPerSecond /= 2;
    const same = compareRuns(syntheticRun({ seed: 1 }), halfSpeed, FAST).rows.filter(
      (r) => r.metric === 'throughput',
    );
    expect(same.map((r) => r.verdict)).toEqual(['same', 'same']);

    const slowNone = syntheticRun({ seed: 1 });
    for (const r of slowNone.records) if (r.throughput && r.mode === 'none') r.throughput.bitsPerSecond /= 2;
    const up = compareRuns(syntheticRun({ seed: 1 }), slowNone, FAST).rows.filter(
      (r) => r.metric === 'throughput',
    );
    expect(up.map((r) => r.verdict)).toEqual(['improved', 'improved']);
  });

  it('warns about cells and modes present in one run only', () => {
    const cur = syntheticRun();
    cur.records = cur.records.filter((r) => r.mode !== 'overlay');
    const cmp = compareRuns(syntheticRun(), cur, FAST);
    expect(cmp.warnings.some((w) => w.startsWith('only in baseline') && w.endsWith('/ overlay'))).toBe(true);
    expect(cmp.rows.every((r) => r.mode === 'native')).toBe(true);
  });

  it('is generic over mode names (a mode it has never heard of is compared like any other)', () => {
    const rename = (run: RunResults) => {
      for (const r of run.records) if (r.mode === 'overlay') r.mode = 'overlay-ebpf+l7';
      return run;
    };
    const cmp = compareRuns(
      rename(syntheticRun({ seed: 1 })),
      rename(syntheticRun({ seed: 500, overlayShift: 90 })),
      FAST,
    );
    expect(new Set(regressed(cmp.rows).map((r) => r.mode))).toEqual(new Set(['overlay-ebpf+l7']));
  });
});

/** Overlay's latencies with a 5% tail 2 ms out: p99 moves, p50 hardly. */
function withOverlayTail(run: RunResults): RunResults {
  let seed = 9000;
  for (const r of run.records) {
    if (r.mode !== 'overlay' || !r.latency || r.policies !== undefined) continue;
    const h = createHistogram();
    const rand = prng(seed++);
    for (let i = 0; i < 2000; i++)
      recordUs(
        h,
        (r.path === 'cross-node' ? 100 : 90) + -Math.log(1 - rand()) * 10 + (i % 20 === 0 ? 2000 : 0),
      );
    r.latency = { unit: 'us', histogram: encodeHistogram(h), summary: summarize(h) };
  }
  return run;
}

describe('compare: which metrics gate', () => {
  it('p99 is reported but does not fail by default; --gate p99 makes it fail', () => {
    const cur = withOverlayTail(syntheticRun({ seed: 500 }));
    const byDefault = compareRuns(syntheticRun({ seed: 1 }), cur, FAST);
    const p99 = byDefault.rows.filter((r) => r.mode === 'overlay' && r.metric === 'p99');
    expect(p99.map((r) => [r.verdict, r.gated])).toEqual([
      ['regressed', false],
      ['regressed', false],
    ]);
    expect(
      byDefault.rows.filter((r) => r.metric === 'p50').every((r) => r.verdict === 'same' && r.gated),
    ).toBe(true);
    expect(byDefault.status).toBe('ok');
    const gated = compareRuns(syntheticRun({ seed: 1 }), cur, {
      ...FAST,
      gate: ['p50', 'p99', 'throughput'],
    });
    expect(gated.status).toBe('regressed');
    // Re-judging at another threshold keeps the gate.
    expect(rethreshold(byDefault, 0.01).status).toBe('ok');
    expect(rethreshold(gated, 0.5).status).toBe('regressed');
  });
});

describe('compare: nothing in common is "cannot compare", never "no regression"', () => {
  it('different scenarios (e.g. full suite vs the quick baseline) → nothing, exit 2', () => {
    const cur = syntheticRun();
    for (const r of cur.records) r.scenario = 'paper-suite';
    const cmp = compareRuns(syntheticRun(), cur, FAST);
    expect(cmp.status).toBe('nothing');
    expect(exitCodeOf(cmp.status)).toBe(2);
    expect(cmp.rows).toEqual([]);
    expect(cmp.warnings.length).toBeGreaterThan(0);
  });

  it('only `none` in both, or no `none` in one run → nothing', () => {
    const onlyNone = syntheticRun();
    onlyNone.records = onlyNone.records.filter((r) => r.mode === 'none');
    expect(compareRuns(onlyNone, onlyNone, FAST).status).toBe('nothing');
    const noNone = syntheticRun();
    noNone.records = noNone.records.filter((r) => r.mode !== 'none');
    const cmp = compareRuns(syntheticRun(), noNone, FAST);
    expect(cmp.status).toBe('nothing');
    expect(cmp.warnings.some((w) => w.includes('no `none` in the current run'))).toBe(true);
  });
});

describe('compare: environments', () => {
  it('a must-match difference (halt-poll tuning) blocks the comparison: exit 2, no rows', () => {
    const base = syntheticRun({ seed: 1 });
    base.env.idle = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 200000, tuned: true };
    const cur = syntheticRun({ seed: 500, overlayShift: 90 });
    cur.env.idle = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0, tuned: false };
    const cmp = compareRuns(base, cur, FAST);
    expect(cmp.status).toBe('env-mismatch');
    expect(exitCodeOf(cmp.status)).toBe(2);
    expect(cmp.rows).toEqual([]);
    expect(cmp.env.mustMatch.map((d) => d.key)).toEqual(['idle.haltPollNs', 'idle.tuned']);
  });

  it('--allow-env-diff compares anyway and every row carries the caveat', () => {
    const base = syntheticRun({ seed: 1 });
    const cur = syntheticRun({ seed: 500, overlayShift: 90 });
    cur.env.cores = 4;
    const cmp = compareRuns(base, cur, { ...FAST, allowEnvDiff: true });
    expect(cmp.status).toBe('regressed');
    expect(cmp.rows.length).toBeGreaterThan(0);
    expect(cmp.rows.every((r) => r.caveat === 'environment differs in cores')).toBe(true);
    expect(cmp.env.mustMatch).toEqual([
      expect.objectContaining({ key: 'cores', baseline: '2', current: '4' }),
    ]);
  });

  it('notes (kernel, commit, load average) do not block and add no caveat', () => {
    const cur = syntheticRun({ seed: 7 });
    Object.assign(cur.env, { kernel: '6.18.1', commit: 'fff', loadAverage: [9, 9, 9] });
    const cmp = compareRuns(syntheticRun({ seed: 1 }), cur, FAST);
    expect(cmp.status).toBe('ok');
    expect(cmp.env.notes.map((d) => d.key)).toEqual(['commit', 'kernel', 'loadAverage']);
    expect(cmp.rows.some((r) => r.caveat)).toBe(false);
  });

  it('warns (without blocking) when the load average differs a lot on a busy machine', () => {
    const withLoad = (l: number, seed: number) => {
      const r = syntheticRun({ seed });
      r.env.loadAverage = [l, l, l];
      return r;
    };
    const busy = compareRuns(withLoad(15, 1), withLoad(45, 7), FAST);
    expect(busy.status).toBe('ok');
    expect(busy.warnings).toContainEqual(
      expect.stringMatching(/^load average at the start differs: 15\.0 → 45\.0 on 2 cores/),
    );
    expect(
      compareRuns(withLoad(0.1, 1), withLoad(1.5, 7), FAST).warnings.some((w) => w.startsWith('load')),
    ).toBe(false);
    expect(
      compareRuns(withLoad(20, 1), withLoad(30, 7), FAST).warnings.some((w) => w.startsWith('load')),
    ).toBe(false);
  });

  it('a test knob set in one run is a must-match difference', () => {
    const cur = syntheticRun({ seed: 7 });
    cur.env.testKnobs = { TB_SAP_DELAY_US: '25' };
    const cmp = compareRuns(syntheticRun({ seed: 1 }), cur, FAST);
    expect(cmp.status).toBe('env-mismatch');
    expect(cmp.env.mustMatch[0]).toMatchObject({
      key: 'testKnobs.TB_SAP_DELAY_US',
      baseline: undefined,
      current: '25',
    });
  });
});

describe('parseThreshold', () => {
  it('parses percentages and fractions', () => {
    expect(parseThreshold('10%')).toBeCloseTo(0.1);
    expect(parseThreshold('10')).toBeCloseTo(0.1);
    expect(parseThreshold('0.05')).toBeCloseTo(0.05);
    expect(parseThreshold('ten')).toBeNull();
  });
});
