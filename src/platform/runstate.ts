// Per-run state file (/run/policy-testbed/<prefix>.json): the processes a run started, so `cleanup` can end
// exactly those after a crash, and only after checking that each PID still runs the command we recorded.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_DIR = process.env.TESTBED_STATE_DIR ?? '/run/policy-testbed';

export interface RecordedProcess {
  pid: number;
  /** A substring of /proc/PID/cmdline (NUL bytes as spaces) that identifies the process as ours. */
  marker: string;
}

export interface RunState {
  prefix: string;
  /** The harness process that owns the run; while it lives, the run is not a leftover. */
  owner: RecordedProcess;
  processes: RecordedProcess[];
  startedAt: string;
}

export function statePath(prefix: string): string {
  return join(STATE_DIR, `${prefix}.json`);
}

export function writeRunState(s: RunState): void {
  mkdirSync(STATE_DIR, { recursive: true });
  const tmp = `${statePath(s.prefix)}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 1));
  renameSync(tmp, statePath(s.prefix));
}

export function removeRunState(prefix: string): void {
  rmSync(statePath(prefix), { force: true });
}

export function readRunStates(): RunState[] {
  let files: string[];
  try {
    files = readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: RunState[] = [];
  for (const f of files) {
    try {
      out.push(JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as RunState);
    } catch {
      // A torn or foreign file is not ours to act on.
    }
  }
  return out;
}

export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return undefined;
  }
}

/** True when PID is alive and still runs the recorded command (PIDs get reused). */
export function isOurs(p: RecordedProcess): boolean {
  const c = cmdline(p.pid);
  return c !== undefined && c.includes(p.marker);
}

/** Sends a signal only to a process that is still ours; returns whether it was sent. */
export function killIfOurs(p: RecordedProcess, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (!isOurs(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}
