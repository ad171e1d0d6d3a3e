// Finding and removing what a run left in the root namespace (bridges, switch-side veth ends) and the processes
// holding its unnamed namespaces. Shared by down(), the crash paths and the `cleanup` command.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cmdline } from '../runstate.ts';

/** Root-namespace link names starting with `prefix` (a run prefix, or the generic pattern's literal part). */
export function rootLinks(match: (name: string) => boolean): string[] {
  let out: string;
  try {
    out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m && match(m[1]!)) names.push(m[1]!);
  }
  return names;
}

/** Deletes links; bridges last is not needed (a veth end can go before or after its bridge). */
export function deleteLinks(names: string[]): string[] {
  const removed: string[] = [];
  for (const n of names) {
    try {
      execFileSync('ip', ['link', 'del', 'dev', n], { stdio: 'ignore' });
      removed.push(n);
    } catch {
      // Already gone: deleting one veth end removes its peer too.
    }
  }
  return removed;
}

/** PIDs whose command line contains `marker` (e.g. `mininet:tb1a2b`, Mininet's host shells of that run). */
export function pidsWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    const c = cmdline(pid);
    if (c && c.includes(marker)) pids.push(pid);
  }
  return pids;
}

export function killPids(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited meanwhile.
    }
  }
}

/** What of a run still exists: root-namespace links and processes (host shells, driver) carrying its prefix. */
export function leftovers(prefix: string): { links: string[]; pids: number[] } {
  return {
    links: rootLinks((n) => n.startsWith(prefix)),
    pids: [...pidsWithMarker(`mininet:${prefix}`), ...pidsWithMarker(`driver.py ${prefix}`)],
  };
}
