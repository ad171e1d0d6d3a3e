// `testbed cleanup`: removes what crashed runs left behind, and nothing else. A run is a leftover when the
// harness process recorded in its state file is gone; its recorded processes are ended only if each PID still
// runs the recorded command. Names are only touched when they carry the project's prefix (`tb` + 4 hex).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { deleteLinks, killPids, pidsWithMarker, rootLinks } from '../platform/mininet/sweep.ts';
import { PREFIX_PATTERN } from '../platform/mininet/topo.ts';
import { cmdline, isOurs, readRunStates, removeRunState } from '../platform/runstate.ts';

export interface CleanupReport {
  runs: string[];
  processes: number[];
  links: string[];
  namespaces: string[];
  /** bpffs pin directories of the eBPF data path (`/sys/fs/bpf/<prefix>-…`). */
  bpfPins: string[];
  skippedLive: string[];
}

const BPFFS = '/sys/fs/bpf';

/** Pins of crashed runs: the programs went with their namespaces, the pinned maps and programs stay until unpinned. */
function bpfPinDirs(leftover: (name: string) => boolean): string[] {
  try {
    return fs
      .readdirSync(BPFFS)
      .filter(leftover)
      .map((n) => path.join(BPFFS, n));
  } catch {
    return [];
  }
}

function namedNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(/\s/)[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Removes leftovers; `dryRun` only reports what would go. */
export function cleanupLeftovers(dryRun = false): CleanupReport {
  const report: CleanupReport = {
    runs: [],
    processes: [],
    links: [],
    namespaces: [],
    bpfPins: [],
    skippedLive: [],
  };
  const live = new Set<string>();
  for (const st of readRunStates()) {
    if (isOurs(st.owner)) {
      live.add(st.prefix);
      report.skippedLive.push(st.prefix);
      continue;
    }
    report.runs.push(st.prefix);
    const pids = st.processes.filter(isOurs).map((p) => p.pid);
    report.processes.push(...pids);
    if (!dryRun) {
      killPids(pids);
      removeRunState(st.prefix);
    }
  }
  const prefixOf = (name: string) => PREFIX_PATTERN.exec(name)?.[0];
  const leftover = (name: string) => {
    const p = prefixOf(name);
    return p !== undefined && !live.has(p);
  };
  // Mininet host and bridge shells run as `bash ... mininet:<name>`; the driver as `driver.py <prefix>`.
  for (const marker of ['mininet:tb', 'driver.py tb']) {
    for (const pid of pidsWithMarker(marker)) {
      const name = (/(?:mininet:|driver\.py )(tb[0-9a-f]{4}\S*)/.exec(cmdline(pid) ?? '') ?? [])[1];
      if (name && leftover(name) && !report.processes.includes(pid)) report.processes.push(pid);
    }
  }
  if (!dryRun) killPids(report.processes);
  report.links = rootLinks(leftover);
  if (!dryRun) report.links = report.links.length ? deleteLinks(report.links) : [];
  report.namespaces = namedNamespaces().filter(leftover);
  if (!dryRun)
    for (const ns of report.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // gone meanwhile
      }
    }
  report.bpfPins = bpfPinDirs(leftover);
  if (!dryRun) for (const d of report.bpfPins) fs.rmSync(d, { recursive: true, force: true });
  return report;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'dry-run': { type: 'boolean' },
        kubernetes: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(`cleanup: ${(e as Error).message}`);
  }
  if (values.help) {
    console.log(
      'usage: testbed cleanup [--dry-run] [--kubernetes]\n\nRemoves processes, links and namespaces of crashed runs (names tb<4 hex>…), never those of a live run,\nand the kind clusters / Kubernetes namespaces crashed runs recorded. --kubernetes: only the latter (no root needed).',
    );
    return 0;
  }
  // Kubernetes leftovers need no root (kind and the API server are reached as the user).
  const { cleanupKubernetes } = await import('../platform/kubernetes/cleanup.ts');
  const k = await cleanupKubernetes(values['dry-run'] ?? false);
  if (k.runs.length || k.skippedLive.length || k.problems.length || values.kubernetes) {
    const v = values['dry-run'] ? 'would remove' : 'removed';
    console.log(
      `kubernetes: ${v} ${k.runs.length} run(s) [${k.runs.join(' ')}], ${k.clusters.length} kind cluster(s) [${k.clusters.join(' ')}], ${k.namespaces.length} namespace(s) [${k.namespaces.join(' ')}], ${k.objects.length} cluster object(s) [${k.objects.join(' ')}]`,
    );
    for (const p of k.problems) console.log(`kubernetes: ${p}`);
  }
  if (values.kubernetes) return k.problems.length ? 1 : 0;
  if (process.getuid?.() !== 0)
    throw new UsageError('cleanup needs root (it ends processes and removes links): run with sudo');
  const r = cleanupLeftovers(values['dry-run'] ?? false);
  const verb = values['dry-run'] ? 'would remove' : 'removed';
  console.log(
    `${verb}: ${r.runs.length} run(s) [${r.runs.join(' ')}], ${r.processes.length} process(es), ${r.links.length} link(s) [${r.links.join(' ')}], ${r.namespaces.length} namespace(s) [${r.namespaces.join(' ')}], ${r.bpfPins.length} BPF pin dir(s) [${r.bpfPins.join(' ')}]`,
  );
  if (r.skippedLive.length) console.log(`left alone (live runs): ${r.skippedLive.join(' ')}`);
  return 0;
}
