// The report's tables as plain rows of strings, rendered by both markdown.ts and html.ts so the two agree.
import type { RunResults } from '../results/schema.ts';
import type { Analysis } from './analyze.ts';
import { l7AddedTable } from './l7.ts';
import { fmtCi, fmtUs, paperClaims } from './paper.ts';

export interface Table {
  id: string;
  title: string;
  note?: string;
  columns: string[];
  rows: string[][];
}

function sig(p: number): string {
  if (!Number.isFinite(p)) return 'n/a';
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** Repetitions needed for a target half-width, if the half-width shrinks as 1/sqrt(repetitions). */
export function repsFor(halfWidth: number, reps: number, target: number): number {
  if (!Number.isFinite(halfWidth)) return NaN;
  return Math.max(reps, Math.ceil(reps * (halfWidth / target) ** 2));
}

/** Largest 95% CI half-width of the added p50 (the acceptance figure for the quick suite). */
export function maxHalfWidthP50(a: Analysis): number {
  return a.added.reduce((m, r) => Math.max(m, (r.p50.hi - r.p50.lo) / 2), 0);
}

export function buildTables(run: RunResults, a: Analysis): Table[] {
  const tables: Table[] = [];
  tables.push({
    id: 'paper',
    title: "The paper's claims against this run",
    columns: ['claim', 'paper', 'measured (95% CI)', 'criterion', 'holds'],
    rows: paperClaims(a, run.conformance).map((c) => [c.claim, c.paper, c.measured, c.criterion, c.holds]),
  });
  if (a.added.length) {
    const reps = new Map(a.latency.map((r) => [`${r.measurement}|${r.mode}`, r.repetitions]));
    tables.push({
      id: 'added',
      title: 'Added latency vs none on the same path',
      note:
        `Two-level bootstrap 95% CI (repetitions, then requests); p = Mann–Whitney two-sided. Largest p50 CI half-width: ${maxHalfWidthP50(a).toFixed(1)} µs. ` +
        'The last column estimates the repetitions per mode for a ±5 µs p50 interval, assuming the half-width shrinks with the square root of the repetitions (run-to-run variation dominates).',
      columns: ['path', 'workload', 'mode', 'added p50', 'added p99', 'p', 'p50 ± (µs)', 'reps for ±5 µs'],
      rows: a.added.map((r) => {
        const hw = (r.p50.hi - r.p50.lo) / 2;
        const n = Math.min(
          reps.get(`${r.measurement}|${r.mode}`) ?? 1,
          reps.get(`${r.measurement}|none`) ?? 1,
        );
        return [
          r.path,
          r.kind,
          r.mode,
          fmtCi(r.p50),
          fmtCi(r.p99),
          sig(r.pValue),
          hw.toFixed(1),
          String(repsFor(hw, n, 5)),
        ];
      }),
    });
  }
  const l7 = l7AddedTable(a);
  if (l7) tables.push(l7);
  if (a.latency.length)
    tables.push({
      id: 'latency',
      title: 'Round-trip latency per mode (all repetitions pooled)',
      columns: ['path', 'workload', 'mode', 'reps', 'requests', 'p50', 'p90', 'p99', 'p99.9', 'max', 'tool'],
      rows: a.latency.map((r) => [
        r.path,
        r.kind,
        r.mode,
        String(r.repetitions),
        String(r.count),
        fmtUs(r.p50Us),
        fmtUs(r.p90Us),
        fmtUs(r.p99Us),
        fmtUs(r.p999Us),
        fmtUs(r.maxUs),
        r.tool
          ? Object.entries(r.tool)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')
          : '',
      ]),
    });
  if (a.throughput.length)
    tables.push({
      id: 'throughput',
      title: 'TCP throughput (iperf3, median across repetitions)',
      columns: ['path', 'mode', 'reps', 'Gbit/s', '95% CI', 'retransmits'],
      rows: a.throughput.map((r) => [
        r.path,
        r.mode,
        String(r.repetitions),
        r.gbps.estimate.toFixed(2),
        `[${r.gbps.lo.toFixed(2)}, ${r.gbps.hi.toFixed(2)}]`,
        String(r.retransmits),
      ]),
    });
  if (a.sweep.length)
    tables.push(
      sweepTable(
        'sweep',
        'policies',
        a.sweep.map((r) => ({ ...r, x: r.policies })),
      ),
    );
  if (a.podSweep.length)
    tables.push(
      sweepTable(
        'sweep-pods',
        'pods',
        a.podSweep.map((r) => ({ ...r, x: r.pods })),
        'Idle pods added to the running network; programming = the enforcer update that added the pods since the previous point (none where no pods were added). The policies are the scenario’s own.',
      ),
    );
  if (run.conformance.length) {
    // With L7 modes the cells are split by the engine's expected verdict, so a reader sees which layer's
    // denials the data path reproduced (agreeing / compared).
    const layered = run.conformance.some((c) => c.byLayer);
    const part = (x: { passed: number; failed: number } | undefined) =>
      x ? `${x.passed}/${x.passed + x.failed}` : '';
    tables.push({
      id: 'conformance',
      title: 'Conformance (probe verdicts vs the semantics engine)',
      ...(layered
        ? {
            note: 'allowed / denied at L3 / denied at L7: cells agreeing / cells compared, by the verdict the engine expects (L3 = no connection, L7 = 403 or connection closed by the sidecar).',
          }
        : {}),
      columns: [
        'mode',
        'passed',
        'failed',
        'unsupported',
        'total',
        ...(layered ? ['allowed', 'denied at L3', 'denied at L7'] : []),
        'source',
      ],
      rows: run.conformance.map((c) => [
        c.mode,
        String(c.passed),
        String(c.failed),
        String(c.unsupported),
        String(c.total),
        ...(layered ? [part(c.byLayer?.allowed), part(c.byLayer?.l3), part(c.byLayer?.l7)] : []),
        c.source,
      ]),
    });
  }
  const e = run.env;
  tables.push({
    id: 'env',
    title: 'Environment',
    columns: ['item', 'value'],
    rows: [
      ['run', run.runId + (run.quick ? ' (quick)' : '')],
      ['platform', e.platform],
      ['modes ran', run.modes.ran.join(', ') || 'none'],
      ['modes missing', run.modes.missing.map((m) => `${m.mode} (${m.reason})`).join('; ') || '—'],
      ['kernel', e.kernel],
      ['CPU', `${e.cpuModel} × ${e.cores} cores`],
      ['load average at start', e.loadAverage ? e.loadAverage.join(' / ') : 'not recorded'],
      [
        'CPU idle',
        e.idle
          ? `${e.idle.driver ?? '?'} / ${e.idle.governor ?? '?'}, halt-poll ${e.idle.haltPollNs === null ? 'n/a' : `${e.idle.haltPollNs / 1000} µs`}${e.idle.tuned ? ' (set by --tune for this run)' : ''}`
          : 'not recorded',
      ],
      ['memory', `${(e.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
      ['Node', e.node],
      [
        'tools',
        Object.entries(e.tools)
          .map(([k, v]) => `${k} ${v ?? 'absent'}`)
          .join('; '),
      ],
      ['commit', `${e.commit ?? 'unknown'}${e.dirty ? ' (dirty)' : ''}`],
      ['scenarios', run.scenarios.map((s) => `${s.name} (${s.hash.slice(0, 12)})`).join(', ')],
      ['started', run.startedAt],
    ],
  });
  return tables;
}

function sweepTable(
  id: string,
  noun: 'policies' | 'pods',
  rows: { mode: string; x: number; p50Us?: number; p99Us?: number; programmingMs?: number }[],
  note?: string,
): Table {
  return {
    id,
    title: `Scale sweep: latency and programming time vs number of ${noun}`,
    ...(note ? { note } : {}),
    columns: ['mode', noun, 'p50', 'p99', 'programming'],
    rows: rows.map((r) => [
      r.mode,
      String(r.x),
      r.p50Us === undefined ? '' : fmtUs(r.p50Us),
      r.p99Us === undefined ? '' : fmtUs(r.p99Us),
      r.programmingMs === undefined ? '' : `${r.programmingMs.toFixed(1)} ms`,
    ]),
  };
}
