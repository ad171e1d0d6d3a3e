// Waits, between one enforcement mode's teardown and the next mode's measurements, until the machine's CPUs are
// quiet again. Why: a teardown is not over when it returns. The user-space overlay's teardown ends sixteen Node
// processes and deletes their TUN devices; the exits, netdev unregistration and RCU callbacks can still be
// running when the next mode starts measuring, and that mode would pay for its predecessor. On this project's
// 2-vCPU VM the CPUs were in fact quiet within the minimum wait (two 250 ms windows) after every apply and
// teardown of none, overlay and overlay-ebpf (bench/overlay-ebpf-paths.ts prints the waits), so here the wait
// is a guard that costs about half a second per mode switch; on a slower machine it is what keeps the
// interleaving honest. The runner also varies the mode order per repetition (experiment/order.ts).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Jiffies from the aggregate `cpu` line of /proc/stat. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/** Parses the first (`cpu`, all CPUs) line of /proc/stat; idle and iowait count as not busy. */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error('/proc/stat: no aggregate "cpu" line');
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 5 || f.some((x) => !Number.isFinite(x)))
    throw new Error(`/proc/stat: cannot read the "cpu" line: ${line}`);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** Share (0–1) of all CPUs' time that was busy between two readings; 0 when no time passed. */
export function busyShare(a: CpuTimes, b: CpuTimes): number {
  const dt = b.total - a.total;
  return dt > 0 ? Math.max(0, Math.min(1, (b.busy - a.busy) / dt)) : 0;
}

export interface SettleOptions {
  /** Busy share of all CPUs below which a window counts as quiet. */
  threshold: number;
  /** Length of one sampling window. */
  windowMs: number;
  /** Consecutive quiet windows needed. */
  quietWindows: number;
  /** Give up after this long (the next mode is measured anyway; the caller says so). */
  maxMs: number;
  read(): CpuTimes;
  sleep(ms: number): Promise<unknown>;
  now(): number;
}

export interface Settled {
  settled: boolean;
  waitedMs: number;
  /** Busy share of the last window. */
  lastBusy: number;
}

export const SETTLE_DEFAULTS = { threshold: 0.1, windowMs: 250, quietWindows: 2, maxMs: 10_000 };

export async function settle(o: Partial<SettleOptions> = {}): Promise<Settled> {
  const opt: SettleOptions = {
    ...SETTLE_DEFAULTS,
    read: () => parseProcStat(readFileSync('/proc/stat', 'utf8')),
    sleep: (ms) => sleep(ms),
    now: () => performance.now(),
    ...o,
  };
  const t0 = opt.now();
  let quiet = 0;
  let last = 1;
  let prev = opt.read();
  while (opt.now() - t0 < opt.maxMs) {
    await opt.sleep(opt.windowMs);
    const cur = opt.read();
    last = busyShare(prev, cur);
    prev = cur;
    quiet = last < opt.threshold ? quiet + 1 : 0;
    if (quiet >= opt.quietWindows) return { settled: true, waitedMs: opt.now() - t0, lastBusy: last };
  }
  return { settled: false, waitedMs: opt.now() - t0, lastBusy: last };
}
