// Test knobs: environment variables that inject a known slowdown into an enforcer, so the regression check
// (`testbed compare`, bench/compare-detect.ts) can be shown to catch it. Off unless set. Every run records the
// knobs that were set in its environment fingerprint (env.testKnobs), `compare` treats them as must-match, and
// `testbed main --baseline` refuses to record while one is set, so an injected slowdown never passes silently
// into a baseline or a comparison.
import { UsageError } from '../errors.ts';

export const TEST_KNOBS = {
  /** Busy-wait this many µs per forwarded packet in every user-space SaP (reference-impl/sap/main.ts). */
  TB_SAP_DELAY_US: 'µs of busy-wait per packet in each user-space SaP',
  /** Prepend this many never-matching linear rules to the native enforcer's forward hook. */
  TB_NATIVE_PAD_RULES: 'linear never-matching rules at the top of the native forward chain',
} as const;

export type TestKnob = keyof typeof TEST_KNOBS;

/** The knobs set (non-empty) in env, by name. */
export function readTestKnobs(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(TEST_KNOBS)) {
    const v = env[k];
    if (v !== undefined && v.trim() !== '') out[k] = v.trim();
  }
  return out;
}

/** A knob's value as a non-negative number (0 when unset); a malformed value is a usage error. */
export function knobNumber(name: TestKnob, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[name]?.trim();
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n))
    throw new UsageError(`${name}='${v}': expected a non-negative number (${TEST_KNOBS[name]})`);
  return n;
}
