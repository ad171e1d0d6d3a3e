// Which differences between two runs' environment fingerprints make a comparison meaningless (pure).
// *must match*: anything that changes what is measured — the CPU and its idle behaviour (guest halt-polling
// alone moves every hop by 20–30 µs here, src/measure/tuning.ts), core count, platform, the scenario measured,
// MTU, the tools that generate or carry the traffic, injected test knobs. *note*: things worth knowing that do
// not by themselves change the figures (kernel build string, load average, commit, host name). A field this
// version does not know (a newer platform's, say) is a note, so an old reader never refuses a newer file.
import type { EnvFingerprint } from './schema.ts';

export type EnvClass = 'must-match' | 'note';

export interface EnvDiff {
  /** Dotted path in the fingerprint, e.g. `idle.tuned`, `tools.iperf3`, `scenarioHashes.paper-suite`. */
  key: string;
  class: EnvClass;
  /** Rendered values; undefined = not recorded in that run. */
  baseline: string | undefined;
  current: string | undefined;
  why: string;
}

const MUST_MATCH: { test: RegExp; why: string }[] = [
  { test: /^cpuModel$/, why: 'CPU model' },
  { test: /^cores$/, why: 'core count' },
  { test: /^arch$/, why: 'CPU architecture' },
  { test: /^platform$/, why: 'platform' },
  { test: /^kubernetes\.platform$/, why: 'platform (kind or an existing cluster)' },
  { test: /^node$/, why: 'Node.js runs the probes and the user-space overlay' },
  { test: /^tools\.(iperf3|sockperf|nft|mininet|autocannon)$/, why: 'tool that generates or carries the traffic' },
  { test: /^idle\./, why: 'CPU idle / guest halt-poll tuning moves every hop' },
  { test: /^testKnobs\./, why: 'injected test slowdown (src/measure/test-knobs.ts)' },
  { test: /(^|\.)[^.]*mtu[^.]*$/i, why: 'MTU' },
  { test: /(^|\.)cni[^.]*$/i, why: 'CNI' },
];

/** Fields that differ between any two runs and say nothing about either. */
const IGNORED = new Set(['timestamp']);

/**
 * The class of one fingerprint field. `scenarioHashes.<name>` must match only for scenarios both runs measured
 * (the conformance scenarios' hashes do not change a latency figure).
 */
export function classifyEnvKey(key: string, comparedScenarios: ReadonlySet<string>): { class: EnvClass; why: string } {
  if (key.startsWith('scenarioHashes.')) {
    const name = key.slice('scenarioHashes.'.length);
    return comparedScenarios.has(name)
      ? { class: 'must-match', why: 'the scenario measured (suite hash)' }
      : { class: 'note', why: 'scenario not measured in both runs' };
  }
  for (const r of MUST_MATCH) if (r.test.test(key)) return { class: 'must-match', why: r.why };
  return { class: 'note', why: 'recorded for context' };
}

function render(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Leaves of the fingerprint by dotted path; arrays are one leaf (a load average is one value). */
export function flattenEnv(env: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [kk, vv] of flattenEnv(v as Record<string, unknown>, key)) out.set(kk, vv);
    } else out.set(key, render(v));
  }
  return out;
}

/** Every field that differs, classified; must-match differences first, each group sorted by key. */
export function diffEnv(
  baseline: EnvFingerprint,
  current: EnvFingerprint,
  comparedScenarios: ReadonlySet<string>,
): EnvDiff[] {
  const b = flattenEnv(baseline);
  const c = flattenEnv(current);
  const keys = [...new Set([...b.keys(), ...c.keys()])].filter((k) => !IGNORED.has(k)).sort();
  const out: EnvDiff[] = [];
  for (const key of keys) {
    if (b.get(key) === c.get(key)) continue;
    out.push({ key, ...classifyEnvKey(key, comparedScenarios), baseline: b.get(key), current: c.get(key) });
  }
  return [...out.filter((d) => d.class === 'must-match'), ...out.filter((d) => d.class === 'note')];
}

export function describeEnvDiff(d: EnvDiff): string {
  const v = (x: string | undefined) => (x === undefined ? '(not recorded)' : x);
  return `${d.key}: ${v(d.baseline)} → ${v(d.current)} (${d.why})`;
}
