// The paper's claims next to what this run measured. Each claim states the criterion used to decide whether it
// holds, so a reader can disagree with the criterion rather than with a bare yes/no.
import type { ConformanceRecord } from '../results/schema.ts';
import type { AddedRow, Analysis } from './analyze.ts';
import { l7Claims } from './l7.ts';

export interface PaperClaim {
  claim: string;
  paper: string;
  measured: string;
  criterion: string;
  holds: 'yes' | 'no' | 'not measured';
}

// Request latency on an open connection (the paper's "adds < 1 ms" is about requests); CRR adds connection
// setup and gets its own row, since that is where per-connection enforcement costs most.
const RR_KINDS = new Set(['udp-rr', 'tcp-rr', 'http']);
const ALL_KINDS = new Set(['udp-rr', 'tcp-rr', 'tcp-crr', 'http']);

export function fmtUs(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  return Math.abs(x) >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${Math.round(x)} µs`;
}

export function fmtCi(r: { estimate: number; lo: number; hi: number }, signed = true): string {
  const s = signed && r.estimate >= 0 ? '+' : '';
  return `${s}${fmtUs(r.estimate)} [${fmtUs(r.lo)}, ${fmtUs(r.hi)}]`;
}

function worst(rows: AddedRow[], p: 'p50' | 'p99'): AddedRow | undefined {
  return [...rows].sort((a, b) => b[p].hi - a[p].hi)[0];
}

function latencyClaims(a: Analysis, mode: string, who: string): PaperClaim[] {
  const overlay = a.added.filter((r) => r.mode === mode && RR_KINDS.has(r.kind));
  const out: PaperClaim[] = [];
  for (const p of ['p50', 'p99'] as const) {
    const w = worst(overlay, p);
    out.push({
      claim: `${who} enforcement adds less than 1 ms of request latency (${p}; UDP/TCP RR, HTTP)`,
      paper: '< 1 ms',
      measured: w
        ? `worst path ${w.path} ${w.kind}: ${fmtCi(w[p])} (${overlay.length} path×workload cells)`
        : `${mode} not measured`,
      criterion: `upper 95% CI bound of added ${p} < 1 ms on every path and workload`,
      holds: w ? (w[p].hi < 1000 ? 'yes' : 'no') : 'not measured',
    });
  }
  const crr = a.added.filter((r) => r.mode === mode && r.kind === 'tcp-crr');
  const wc = worst(crr, 'p50');
  out.push({
    claim: `${who} enforcement adds less than 1 ms per new connection (p50; TCP CRR)`,
    paper: '< 1 ms (stated for latency in general)',
    measured: wc ? `worst path ${wc.path}: ${fmtCi(wc.p50)} (${crr.length} paths)` : 'CRR not measured',
    criterion: 'upper 95% CI bound of added p50 connect+request+response < 1 ms on every path',
    holds: wc ? (wc.p50.hi < 1000 ? 'yes' : 'no') : 'not measured',
  });
  const vs = a.overlayVsNative.filter((r) => r.mode === mode && ALL_KINDS.has(r.kind));
  const nativeAdded = new Map(a.added.filter((r) => r.mode === 'native').map((r) => [r.measurement, r]));
  const w = worst(vs, 'p50');
  out.push({
    claim: `${who} latency is competitive with native NetworkPolicy enforcement`,
    paper: 'competitive (no figure given)',
    measured: w
      ? `worst path ${w.path} ${w.kind}: ${mode} − native p50 ${fmtCi(w.p50)}; native adds ${nativeAdded.get(w.measurement) ? fmtCi(nativeAdded.get(w.measurement)!.p50) : 'n/a'}`
      : 'needs both native and overlay',
    criterion: 'overlay p50 exceeds native p50 by less than 100 µs (upper CI bound) on every path',
    holds: w ? (w.p50.hi < 100 ? 'yes' : 'no') : 'not measured',
  });
  return out;
}

export function paperClaims(a: Analysis, conformance: ConformanceRecord[]): PaperClaim[] {
  const out = latencyClaims(a, 'overlay', 'Overlay');
  // The kernel data path of the same design (reference-impl/ebpf/): the same claims, judged on their own rows.
  if (a.added.some((r) => r.mode === 'overlay-ebpf'))
    out.push(...latencyClaims(a, 'overlay-ebpf', 'Overlay (eBPF data path)'));
  const conf = (mode: string) => conformance.find((c) => c.mode === mode);
  const ov = conf('overlay');
  const nat = conf('native');
  const rate = (c: ConformanceRecord) =>
    c.total - c.unsupported > 0 ? c.passed / (c.total - c.unsupported) : NaN;
  out.push({
    claim: 'Overlay policies are as expressive as Kubernetes NetworkPolicy',
    paper: 'all NetworkPolicy semantics',
    measured: ov
      ? `overlay ${ov.passed}/${ov.total - ov.unsupported} probes agree with the engine (${(100 * rate(ov)).toFixed(1)}%, ${ov.unsupported} unsupported here)` +
        (nat
          ? `; native ${nat.passed}/${nat.total - nat.unsupported} (${(100 * rate(nat)).toFixed(1)}%)`
          : '')
      : 'conformance not run under overlay',
    criterion: 'conformance pass rate under overlay = 100% of supported probes',
    holds: ov ? (ov.passed === ov.total - ov.unsupported ? 'yes' : 'no') : 'not measured',
  });
  out.push(...l7Claims(a, conformance));
  return out;
}
