// Loading, attaching and programming the BPF objects with the system tools (bpftool, tc): npm has no eBPF
// loader, and these two are what an operator would use by hand. Everything lives under one pin directory that
// carries the run prefix; close() detaches and unpins, so a stopped process leaves nothing in the kernel.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARRAY_MAPS, activeValue, type MapEntry, type Slot } from './maps.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = path.join(HERE, 'build');
export const BPFFS = '/sys/fs/bpf';

export function objectPath(role: 'sap' | 'agent'): string {
  return path.join(BUILD_DIR, `${role}.bpf.o`);
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')}: ${(err.stderr ?? err.message).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
}

export function ensureBpffs(): void {
  try {
    execFileSync('mountpoint', ['-q', BPFFS]);
  } catch {
    run('mount', ['-t', 'bpf', 'bpf', BPFFS]);
  }
}

const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

export class BpfObject {
  readonly progDir: string;
  readonly mapDir: string;
  private attached = new Map<string, { hook: string; prio: number }[]>();
  /** Per slot: the keys written there last time, so the next write into that slot can remove stale ones. */
  private written: [Map<string, MapEntry>, Map<string, MapEntry>] = [new Map(), new Map()];
  private slot: Slot = 1;

  constructor(
    readonly role: 'sap' | 'agent',
    readonly dir: string,
  ) {
    this.progDir = path.join(dir, 'p');
    this.mapDir = path.join(dir, 'm');
    const obj = objectPath(role);
    if (!fs.existsSync(obj)) throw new Error(`${obj} missing: run \`make ebpf\` (clang -target bpf)`);
    ensureBpffs();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    try {
      run('bpftool', ['prog', 'loadall', obj, this.progDir, 'pinmaps', this.mapDir, 'type', 'classifier']);
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Attaches program `prog` to the clsact hook of `dev` (in this process's network namespace). */
  attach(dev: string, hook: 'ingress' | 'egress', prog: string, prio = 1): void {
    try {
      run('tc', ['qdisc', 'add', 'dev', dev, 'clsact']);
    } catch {
      // already there (our own earlier attach)
    }
    this.attached.set(dev, [...(this.attached.get(dev) ?? []), { hook, prio }]);
    run('tc', [
      'filter',
      'replace',
      'dev',
      dev,
      hook,
      'prio',
      String(prio),
      'handle',
      '1',
      'bpf',
      'da',
      'object-pinned',
      path.join(this.progDir, prog),
    ]);
  }

  isAttached(dev: string): boolean {
    return this.attached.has(dev);
  }

  /**
   * Writes a whole config version into the inactive slot (deleting what that slot held before), then makes it
   * active with one write. bpftool batch stops at the first failing line, so a failed write never flips.
   */
  /** The slot the next program() call writes. */
  nextSlot(): Slot {
    return this.slot === 0 ? 1 : 0;
  }

  program(entries: MapEntry[], gen: number): { slot: Slot; lines: number } {
    const slot = this.nextSlot();
    const next = new Map(entries.map((e) => [`${e.map}:${e.key.toString('hex')}`, e]));
    const lines: string[] = [];
    for (const [k, e] of this.written[slot]) {
      if (next.has(k)) continue;
      const p = path.join(this.mapDir, e.map);
      if (e.map in ARRAY_MAPS)
        lines.push(
          `map update pinned ${p} key hex ${hex(e.key)} value hex ${hex(Buffer.alloc(ARRAY_MAPS[e.map]!))}`,
        );
      else lines.push(`map delete pinned ${p} key hex ${hex(e.key)}`);
    }
    for (const e of entries)
      lines.push(
        `map update pinned ${path.join(this.mapDir, e.map)} key hex ${hex(e.key)} value hex ${hex(e.value)}`,
      );
    lines.push(
      `map update pinned ${path.join(this.mapDir, 'active')} key hex 00 00 00 00 value hex ${hex(activeValue(slot, gen))}`,
    );
    const file = path.join(os.tmpdir(), `ovbpf-${process.pid}-${gen}.batch`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    try {
      run('bpftool', ['batch', 'file', file]);
    } finally {
      fs.rmSync(file, { force: true });
    }
    this.written[slot] = next;
    this.slot = slot;
    return { slot, lines: lines.length };
  }

  /** Per-CPU counters summed, by counter id. */
  counters(): number[] {
    const dump = JSON.parse(
      run('bpftool', ['-j', 'map', 'dump', 'pinned', path.join(this.mapDir, 'counters')]),
    ) as {
      key: number | string[];
      values: { cpu: number; value: number | string[] }[];
      formatted?: { key: number; values: { cpu: number; value: number }[] };
    }[];
    const out: number[] = [];
    for (const row of dump) {
      const f = row.formatted ?? row;
      const key =
        typeof f.key === 'number'
          ? f.key
          : Buffer.from((f.key as string[]).map((x) => parseInt(x, 16))).readUInt32LE();
      out[key] = f.values.reduce(
        (a, v) =>
          a +
          (typeof v.value === 'number'
            ? v.value
            : Number(Buffer.from((v.value as string[]).map((x) => parseInt(x, 16))).readBigUInt64LE())),
        0,
      );
    }
    return out;
  }

  /** Detaches from every device it was attached to and removes the pins. Never throws. */
  close(): void {
    for (const [dev, filters] of this.attached) {
      for (const f of filters) {
        try {
          execFileSync('tc', ['filter', 'del', 'dev', dev, f.hook, 'prio', String(f.prio)], {
            stdio: 'ignore',
          });
        } catch {
          // device gone
        }
      }
      // The qdisc goes with the last filter on it (another SaP of this namespace may still use it).
      try {
        const left =
          execFileSync('tc', ['filter', 'show', 'dev', dev, 'ingress'], { encoding: 'utf8' }) +
          execFileSync('tc', ['filter', 'show', 'dev', dev, 'egress'], { encoding: 'utf8' });
        if (left.trim() === '')
          execFileSync('tc', ['qdisc', 'del', 'dev', dev, 'clsact'], { stdio: 'ignore' });
      } catch {
        // device gone
      }
    }
    this.attached.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Names of this namespace's interfaces other than loopback. */
export function interfaces(): { name: string; addrs: string[] }[] {
  const j = JSON.parse(run('ip', ['-j', 'addr', 'show'])) as {
    ifname: string;
    addr_info?: { family: string; local: string }[];
  }[];
  return j
    .filter((l) => l.ifname !== 'lo')
    .map((l) => ({
      name: l.ifname,
      addrs: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local),
    }));
}
