// Loading and attaching the BPF objects with the system tools (bpftool, tc), once per process: npm has no eBPF
// loader, and these two are what an operator would use by hand. Programming each config version and reading
// the counters use bpf(2) map calls from the native addon (native/bpf.ts): a bpftool spawn per version cost
// about 10 ms each, which dominated policy-update latency. Everything lives under one pin directory that
// carries the run prefix; close() detaches and unpins, so a stopped process leaves nothing in the kernel.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PinnedMap } from '../native/bpf.ts';
import { ARRAY_MAPS, activeValue, type MapEntry, type Slot } from './maps.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = path.join(HERE, 'build');
export const BPFFS = '/sys/fs/bpf';

/** The object a role loads; TB_EBPF_BUILD names another build directory (a measurement knob: the paths bench
 * compares two builds of the programs in one run, bench/overlay-ebpf-paths.ts `overlay-ebpf@DIR`). */
export function objectPath(role: 'sap' | 'agent'): string {
  return path.join(process.env.TB_EBPF_BUILD || BUILD_DIR, `${role}.bpf.o`);
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

export class BpfObject {
  readonly progDir: string;
  readonly mapDir: string;
  private attached = new Map<string, { hook: string; prio: number }[]>();
  /** Per slot: the keys written there last time, so the next write into that slot can remove stale ones. */
  private written: [Map<string, MapEntry>, Map<string, MapEntry>] = [new Map(), new Map()];
  private slot: Slot = 1;
  private maps = new Map<string, PinnedMap>();

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

  /** The slot the next program() call writes. */
  nextSlot(): Slot {
    return this.slot === 0 ? 1 : 0;
  }

  private map(name: string): PinnedMap {
    let m = this.maps.get(name);
    if (!m) this.maps.set(name, (m = new PinnedMap(path.join(this.mapDir, name))));
    return m;
  }

  /**
   * Writes a whole config version into the inactive slot (deleting what that slot held before), then makes it
   * active with one write. Writes go through bpf(2) from the addon (one call per map), in order: stale keys
   * out, new entries in, then the flip; a refused write throws before the flip, so a failed version is never
   * seen by a packet.
   */
  program(entries: MapEntry[], gen: number): { slot: Slot; lines: number } {
    const slot = this.nextSlot();
    const before = this.written[slot];
    // latin1 maps each byte to one char: a cheap exact key for a Buffer.
    const next = new Map(entries.map((e) => [`${e.map}:${e.key.toString('latin1')}`, e]));
    const writes = new Map<string, { keys: Buffer[]; values: Buffer[] }>();
    const put = (map: string, key: Buffer, value: Buffer) => {
      let w = writes.get(map);
      if (!w) writes.set(map, (w = { keys: [], values: [] }));
      w.keys.push(key);
      w.values.push(value);
    };
    const stale = new Map<string, Buffer[]>();
    for (const [k, e] of before) {
      if (next.has(k)) continue;
      // Array entries cannot be deleted: zeros mean "nothing here" (a key length of 0, no config).
      if (e.map in ARRAY_MAPS) put(e.map, e.key, Buffer.alloc(ARRAY_MAPS[e.map]!));
      else stale.set(e.map, [...(stale.get(e.map) ?? []), e.key]);
    }
    // The slot still holds the version before last: only what differs from it is written.
    for (const [k, e] of next) if (!before.get(k)?.value.equals(e.value)) put(e.map, e.key, e.value);
    let n = 0;
    try {
      for (const [map, keys] of stale) n += this.map(map).delete(keys);
      for (const [map, w] of writes) {
        this.map(map).update(w.keys, w.values);
        n += w.keys.length;
      }
    } catch (e) {
      // The slot now holds some of both versions: forget it, so the next write into it writes everything and
      // deletes whatever either version left.
      this.written[slot] = new Map(
        [...before, ...next].map(([k, x]) => [k, { ...x, value: Buffer.alloc(0) }]),
      );
      throw e;
    }
    this.map('active').update([Buffer.alloc(4)], [activeValue(slot, gen)]);
    this.written[slot] = next;
    this.slot = slot;
    return { slot, lines: n + 1 };
  }

  /** Writes entries into a map outside the versioned slots (facts of the namespace, not of a config). */
  put(map: string, keys: Buffer[], values: Buffer[]): void {
    this.map(map).update(keys, values);
  }

  /** Deletes entries from such a map (absent keys are no error). */
  remove(map: string, keys: Buffer[]): void {
    this.map(map).delete(keys);
  }

  /** Per-CPU counters summed, by counter id. */
  counters(): number[] {
    const m = this.map('counters');
    const out: number[] = [];
    const key = Buffer.alloc(4);
    for (let id = 0; id < m.maxEntries; id++) {
      key.writeUInt32LE(id);
      const v = m.lookup(key);
      let sum = 0n;
      if (v) for (let off = 0; off + 8 <= v.length; off += 8) sum += v.readBigUInt64LE(off);
      out[id] = Number(sum);
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
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Names of this namespace's interfaces other than loopback. */
/**
 * The interfaces of this namespace but `lo`, with their IPv4 addresses; `peerNs`: a veth whose other end lives in
 * another namespace (a pod's link), which the SaP can deliver to with bpf_redirect_peer.
 */
export function interfaces(): { name: string; ifindex: number; addrs: string[]; peerNs: boolean }[] {
  const j = JSON.parse(run('ip', ['-d', '-j', 'addr', 'show'])) as {
    ifname: string;
    ifindex: number;
    link_netnsid?: number;
    linkinfo?: { info_kind?: string };
    addr_info?: { family: string; local: string }[];
  }[];
  return j
    .filter((l) => l.ifname !== 'lo')
    .map((l) => ({
      name: l.ifname,
      ifindex: l.ifindex,
      addrs: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local),
      peerNs: l.linkinfo?.info_kind === 'veth' && l.link_netnsid !== undefined,
    }));
}
