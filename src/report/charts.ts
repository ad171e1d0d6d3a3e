// Vega-Lite specs for the report's figures, built from an Analysis (plain data in, plain JSON out). Every
// axis says what it measures and in which unit; colours per mode are fixed so figures read alike.
import type { Analysis } from './analyze.ts';
import { modeRank } from './analyze.ts';

export type VlSpec = Record<string, unknown>;

export interface Chart {
  id: string;
  title: string;
  caption: string;
  spec: VlSpec;
}

const MODE_COLORS: Record<string, string> = {
  none: '#7f7f7f',
  native: '#1f77b4',
  overlay: '#d62728',
  'overlay+l7': '#ff7f0e',
};

function modeScale(modes: string[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(modes)].sort((a, b) => modeRank(a) - modeRank(b));
  return { domain, range: domain.map((m) => MODE_COLORS[m] ?? '#2ca02c') };
}

const CONFIG = {
  font: 'DejaVu Sans',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

function base(title: string): VlSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    config: CONFIG,
    background: 'white',
    padding: 10,
  };
}

/** One CDF panel per path (and workload), one line per mode; log x so µs-scale and ms-scale tails both show. */
export function latencyCdfChart(a: Analysis, kind: string): Chart | null {
  const values = a.cdf.filter((p) => p.kind === kind);
  if (!values.length) return null;
  return {
    id: `cdf-${kind}`,
    title: `Latency CDF, ${kind}`,
    caption: `Cumulative distribution of ${kind} round-trip latency per path and enforcement mode (all repetitions pooled, warm-up excluded).`,
    spec: {
      ...base(`Round-trip latency CDF — ${kind}`),
      data: { values },
      facet: { field: 'path', type: 'nominal', title: 'path', header: { labelFontWeight: 'bold' } },
      columns: 3,
      spec: {
        width: 260,
        height: 180,
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.8 },
        encoding: {
          x: {
            field: 'latencyUs',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'round-trip latency (µs, log scale)',
          },
          y: {
            field: 'fraction',
            type: 'quantitative',
            title: 'fraction of requests ≤ x',
            scale: { domain: [0, 1] },
          },
          color: {
            field: 'mode',
            type: 'nominal',
            title: 'mode',
            scale: modeScale(values.map((v) => v.mode)),
          },
        },
      },
      resolve: { scale: { x: 'independent' } },
    },
  };
}

// Added latency spans a few µs (native) to hundreds of ms (a saturated open-loop run): a symmetric log axis
// keeps both readable and still shows negative differences.
const SYMLOG_TICKS = [-10000, -1000, -100, -10, 0, 10, 100, 1000, 10000, 100000, 1000000];

/** Added p50 (and p99) latency vs `none` on the same path, bars with 95% bootstrap CI whiskers. */
export function addedLatencyChart(a: Analysis, percentileName: 'p50' | 'p99'): Chart | null {
  if (!a.added.length) return null;
  const values = a.added.map((r) => ({
    label: `${r.path} · ${r.kind}`,
    mode: r.mode,
    added: r[percentileName].estimate,
    lo: r[percentileName].lo,
    hi: r[percentileName].hi,
  }));
  const y = {
    field: 'label',
    type: 'nominal',
    title: 'path · workload',
    sort: null,
    axis: { labelLimit: 260 },
  };
  const color = {
    field: 'mode',
    type: 'nominal',
    title: 'mode',
    scale: modeScale(values.map((v) => v.mode)),
  };
  const yOffset = { field: 'mode', sort: modeScale(values.map((v) => v.mode)).domain };
  const lo = Math.min(0, ...values.map((v) => v.lo).filter(Number.isFinite));
  const hi = Math.max(0, ...values.map((v) => v.hi).filter(Number.isFinite));
  const ticks = SYMLOG_TICKS.filter((t) => t === 0 || (t < 0 ? t >= lo * 1.5 - 10 : t <= hi * 1.5 + 10));
  return {
    id: `added-${percentileName}`,
    title: `Added ${percentileName} latency vs none`,
    caption: `Added ${percentileName} round-trip latency of each mode over \`none\` on the same path and workload; whiskers are 95% two-level bootstrap confidence intervals (repetitions, then requests).`,
    spec: {
      ...base(`Added ${percentileName} latency over no enforcement (95% CI)`),
      data: { values },
      width: 520,
      height: { step: 14 },
      layer: [
        {
          mark: { type: 'bar', opacity: 0.85 },
          encoding: {
            y,
            yOffset,
            color,
            x: {
              field: 'added',
              type: 'quantitative',
              title: `added ${percentileName} latency (µs, symmetric log scale)`,
              scale: { type: 'symlog', constant: 10 },
              axis: { values: ticks, format: ',d', labelOverlap: true },
            },
          },
        },
        {
          mark: { type: 'rule', strokeWidth: 1.5 },
          encoding: {
            y,
            yOffset,
            x: { field: 'lo', type: 'quantitative' },
            x2: { field: 'hi' },
            color: { value: 'black' },
          },
        },
        {
          mark: { type: 'rule', color: '#444', strokeDash: [4, 3] },
          encoding: { x: { datum: 0, type: 'quantitative' } },
        },
      ],
    },
  };
}

export function throughputChart(a: Analysis): Chart | null {
  if (!a.throughput.length) return null;
  const values = a.throughput.map((r) => ({
    path: r.path,
    mode: r.mode,
    gbps: r.gbps.estimate,
    lo: r.gbps.lo,
    hi: r.gbps.hi,
  }));
  const color = {
    field: 'mode',
    type: 'nominal',
    title: 'mode',
    scale: modeScale(values.map((v) => v.mode)),
  };
  return {
    id: 'throughput',
    title: 'TCP throughput (iperf3)',
    caption:
      'Median iperf3 TCP throughput across repetitions per path and mode; whiskers are 95% bootstrap CIs of the median.',
    spec: {
      ...base('TCP throughput, iperf3 (median, 95% CI)'),
      data: { values },
      width: { step: 28 },
      height: 240,
      encoding: {
        x: { field: 'path', type: 'nominal', title: 'path', axis: { labelAngle: 0 } },
        xOffset: { field: 'mode', sort: modeScale(values.map((v) => v.mode)).domain },
        color,
      },
      layer: [
        {
          mark: 'bar',
          encoding: { y: { field: 'gbps', type: 'quantitative', title: 'throughput (Gbit/s)' } },
        },
        {
          mark: { type: 'rule' },
          encoding: {
            y: { field: 'lo', type: 'quantitative' },
            y2: { field: 'hi' },
            color: { value: 'black' },
          },
        },
      ],
    },
  };
}

/** What the x of each sweep counts, for the axis and the caption. */
const SWEEP_AXES = {
  policies: {
    noun: 'policies',
    caption:
      "x is the number of policies in force, the scenario's own plus filler policies that select the measured destination but admit only unused sources, so the measured flow's verdict never changes.",
  },
  pods: {
    noun: 'pods',
    caption:
      "x is the number of pods in force, the scenario's own plus idle pods added to the running network in the measured destination's namespace, spread over its cluster's nodes and labelled like the destination (so its policies select them too) without changing the measured flow's verdict. Programming time is that of the enforcer update that added the pods since the previous point (none at zero added pods, where nothing was updated).",
  },
} as const;

function sweepChart(
  a: Analysis,
  axis: keyof typeof SWEEP_AXES,
  field: 'p50Us' | 'p99Us' | 'programmingMs',
  title: string,
  yTitle: string,
  id: string,
): Chart | null {
  const rows: { mode: string; kind?: string; x: number; value?: number }[] =
    axis === 'pods'
      ? a.podSweep.map((r) => ({ mode: r.mode, kind: r.kind, x: r.pods, value: r[field] }))
      : a.sweep.map((r) => ({ mode: r.mode, kind: r.kind, x: r.policies, value: r[field] }));
  const { noun, caption } = SWEEP_AXES[axis];
  const values = rows
    .filter((r) => r.value !== undefined)
    .map((r) => ({ mode: r.mode, [noun]: axis === 'pods' ? r.x : Math.max(1, r.x), value: r.value }));
  if (!values.length) return null;
  const workload = [...new Set(rows.map((r) => r.kind).filter((k): k is string => !!k))].join(', ');
  if (field !== 'programmingMs' && workload) yTitle = `${yTitle.replace(' (µs)', '')}, ${workload} (µs)`;
  return {
    id,
    title,
    caption: `${title}: ${caption}`,
    spec: {
      ...base(title),
      data: { values },
      width: 420,
      height: 240,
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: noun,
          type: 'quantitative',
          // Policy counts span four decades; pod counts about one, which a linear axis shows plainly.
          ...(axis === 'pods'
            ? { scale: { zero: true }, axis: { format: 'd', tickMinStep: 1 }, title: 'number of pods' }
            : { scale: { type: 'log' }, title: 'number of policies (log scale)' }),
        },
        y: { field: 'value', type: 'quantitative', title: yTitle },
        color: { field: 'mode', type: 'nominal', title: 'mode', scale: modeScale(values.map((v) => v.mode)) },
      },
    },
  };
}

export function allCharts(a: Analysis): Chart[] {
  const kinds = [...new Set(a.cdf.map((p) => p.kind))];
  return [
    addedLatencyChart(a, 'p50'),
    addedLatencyChart(a, 'p99'),
    ...kinds.map((k) => latencyCdfChart(a, k)),
    throughputChart(a),
    sweepChart(
      a,
      'policies',
      'p50Us',
      'p50 latency vs number of policies',
      'p50 round-trip latency (µs)',
      'sweep-latency',
    ),
    sweepChart(
      a,
      'policies',
      'programmingMs',
      'Policy programming time vs number of policies',
      'programming time (ms)',
      'sweep-programming',
    ),
    sweepChart(
      a,
      'pods',
      'p50Us',
      'p50 latency vs number of pods',
      'p50 round-trip latency (µs)',
      'sweep-pods-latency',
    ),
    sweepChart(
      a,
      'pods',
      'programmingMs',
      'Programming time vs number of pods',
      'programming time (ms)',
      'sweep-pods-programming',
    ),
  ].filter((c): c is Chart => c !== null);
}
