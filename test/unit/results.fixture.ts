// Synthetic run results for unit tests of the store, report and compare: exponential latencies with a known
// shift per mode, so tests can check that figures come out of the stored histograms.
import { createHistogram, encodeHistogram, recordUs, summarize } from '../../src/measure/histogram.ts';
import { prng } from '../../src/measure/stats.ts';
import { RESULTS_SCHEMA_VERSION, type ResultRecord, type RunResults } from '../../src/results/schema.ts';

export const ENV = {
  kernel: '6.18.0',
  cpuModel: 'Test CPU',
  cores: 2,
  memoryBytes: 4e9,
  node: 'v20.20.0',
  tools: { iperf3: 'iperf 3.12', sockperf: null },
  commit: 'abc123',
  dirty: false,
  scenarioHashes: { suite: 'deadbeef' },
  platform: 'mininet',
  modes: ['none', 'native', 'overlay'],
  hostname: 'test',
  arch: 'x64',
  timestamp: '2026-11-26T00:00:00.000Z',
};

export function latencyRecord(
  mode: string,
  path: string,
  rep: number,
  baseUs: number,
  seed: number,
  n = 2000,
  extra: Partial<ResultRecord> = {},
): ResultRecord {
  const h = createHistogram();
  const r = prng(seed);
  for (let i = 0; i < n; i++) recordUs(h, baseUs + -Math.log(1 - r()) * 10);
  return {
    scenario: 'suite',
    measurement: `udp-${path}`,
    kind: 'udp-rr',
    path,
    mode,
    repetition: rep,
    from: 'x/a',
    to: 'y/b',
    startedAt: '2026-11-26T00:00:00.000Z',
    durationMs: 100,
    latency: { unit: 'us', histogram: encodeHistogram(h), summary: summarize(h) },
    errors: 0,
    tool: 'rr',
    ...extra,
  };
}

/** Pods in force at the pod-count sweep's points (2 of the scenario's own + 0, 10, 50 idle pods). */
export const POD_SWEEP = [2, 12, 52];

/**
 * none = base, native = base + nativeShift, overlay = base + overlayShift; 3 repetitions each. baseShift moves
 * every mode (a slower machine), noneShift only `none`.
 */
export function syntheticRun(
  opts: {
    nativeShift?: number;
    overlayShift?: number;
    baseShift?: number;
    noneShift?: number;
    seed?: number;
    runId?: string;
  } = {},
): RunResults {
  const b = opts.baseShift ?? 0;
  const shifts: Record<string, number> = {
    none: b + (opts.noneShift ?? 0),
    native: b + (opts.nativeShift ?? 5),
    overlay: b + (opts.overlayShift ?? 60),
  };
  const records: ResultRecord[] = [];
  let seed = opts.seed ?? 1;
  for (const path of ['same-node', 'cross-node'])
    for (let rep = 0; rep < 3; rep++)
      for (const mode of ['none', 'native', 'overlay'])
        records.push(
          latencyRecord(mode, path, rep, 30 + (path === 'cross-node' ? 10 : 0) + shifts[mode]!, seed++),
        );
  for (let rep = 0; rep < 3; rep++)
    for (const mode of ['none', 'native', 'overlay'])
      records.push({
        scenario: 'suite',
        measurement: 'iperf-cross',
        kind: 'iperf3',
        path: 'cross-node',
        mode,
        repetition: rep,
        from: 'x/a',
        to: 'y/b',
        startedAt: '2026-11-26T00:00:00.000Z',
        durationMs: 1000,
        errors: 0,
        tool: 'iperf3',
        throughput: { bitsPerSecond: (mode === 'overlay' ? 0.6e9 : 30e9) + rep * 1e8, retransmits: 0 },
      });
  for (const n of [1, 10, 100])
    for (const mode of ['native', 'overlay'])
      records.push(
        latencyRecord(mode, 'cross-node', 0, 40 + n / 10, seed++, 500, {
          measurement: 'sweep-udp',
          policies: n,
        }),
      );
  for (const n of POD_SWEEP)
    for (const mode of ['native', 'overlay'])
      records.push(
        latencyRecord(mode, 'cross-node', 0, 40 + n / 5, seed++, 500, {
          measurement: 'sweep-pods-udp',
          policies: 2,
          pods: n,
        }),
      );
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId: opts.runId ?? '20261126T000000Z-abcdef',
    startedAt: '2026-11-26T00:00:00.000Z',
    finishedAt: '2026-11-26T00:01:00.000Z',
    quick: true,
    env: structuredClone(ENV),
    scenarios: [{ name: 'suite', file: 'scenarios/paper/suite.yaml', hash: 'deadbeef' }],
    modes: { requested: ['none', 'native', 'overlay'], ran: ['none', 'native', 'overlay'], missing: [] },
    records,
    programming: [
      ...[1, 10, 100].flatMap((n) => [
        { scenario: 'suite', mode: 'native', policies: n, programmingMs: 5 + n * 0.1 },
        { scenario: 'suite', mode: 'overlay', policies: n, programmingMs: 8 + n * 0.2 },
      ]),
      // No programming at the first pod point: no pods were added, so nothing was updated.
      ...POD_SWEEP.slice(1).flatMap((n) => [
        { scenario: 'suite', mode: 'native', policies: 2, pods: n, programmingMs: 4 + n * 0.3 },
        { scenario: 'suite', mode: 'overlay', policies: 2, pods: n, programmingMs: 9 + n * 0.5 },
      ]),
    ],
    conformance: [
      { mode: 'native', passed: 10, failed: 0, unsupported: 1, total: 11, source: 'test' },
      { mode: 'overlay', passed: 9, failed: 1, unsupported: 1, total: 11, source: 'test' },
    ],
    notes: [],
  };
}
