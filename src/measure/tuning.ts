// CPU idle state of the machine, read for every result and optionally tuned for a run (like `pyperf system
// tune` or tuned's latency-performance profile). Why it matters here: on a VM whose guest halt-polling is off
// (haltpoll.guest_halt_poll_ns=0, as on this project's Firecracker machines), every idle vCPU halts, and waking
// it again costs a VM exit and an IPI: 20–30 µs per process hop. A request through the overlay crosses six
// more user-space processes than a direct one, so that cost, not the overlay's code, dominates what it adds.
// Measured (bench/overlay.ts): direct UDP RR p50 56 µs untuned, 16 µs with 200 µs of halt polling; through
// the overlay 253 µs and 105 µs.
import { readFileSync, writeFileSync } from 'node:fs';

const SYS_IDLE = '/sys/devices/system/cpu/cpuidle';
export const HALT_POLL_PATH = '/sys/module/haltpoll/parameters/guest_halt_poll_ns';
/** Halt-poll window used by --tune: longer than one overlay round trip, so vCPUs stay awake between hops. */
export const TUNED_HALT_POLL_NS = 200_000;

/** The halt-poll value to put back, while this process has it tuned. */
let restoreValue: string | null = null;

export interface IdleState {
  driver: string | null;
  governor: string | null;
  /** Guest halt-poll window (ns) when the haltpoll driver is present, else null. */
  haltPollNs: number | null;
  /** True when this run changed the halt-poll window (--tune). */
  tuned: boolean;
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

export function readIdleState(tuned = restoreValue !== null): IdleState {
  const ns = readOr(HALT_POLL_PATH);
  return {
    driver: readOr(`${SYS_IDLE}/current_driver`),
    governor: readOr(`${SYS_IDLE}/current_governor_ro`) ?? readOr(`${SYS_IDLE}/current_governor`),
    haltPollNs: ns === null || !/^\d+$/.test(ns) ? null : Number(ns),
    tuned,
  };
}

function restore(): void {
  if (restoreValue === null) return;
  try {
    writeFileSync(HALT_POLL_PATH, restoreValue);
  } catch {
    // Nothing more can be done at exit; the next boot resets it anyway.
  }
  restoreValue = null;
}

/**
 * Sets the guest halt-poll window for the rest of this process and restores the old value when `untune()` is
 * called or the process exits (also on SIGINT/SIGTERM through process.exit). Throws a one-line reason when the
 * machine has no haltpoll driver or the file cannot be written (not root).
 */
export function tuneIdle(ns = TUNED_HALT_POLL_NS): { before: number; after: number; untune: () => void } {
  const before = readOr(HALT_POLL_PATH);
  if (before === null)
    throw new Error(`--tune: ${HALT_POLL_PATH} does not exist (no guest haltpoll cpuidle driver here)`);
  try {
    writeFileSync(HALT_POLL_PATH, String(ns));
  } catch (e) {
    throw new Error(`--tune: cannot write ${HALT_POLL_PATH}: ${(e as Error).message} (needs root)`);
  }
  if (restoreValue === null) {
    restoreValue = before;
    process.once('exit', restore);
  }
  return { before: Number(before), after: ns, untune: restore };
}
