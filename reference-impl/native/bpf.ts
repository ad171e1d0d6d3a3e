// Typed wrapper of the addon's bpf(2) map calls (src/bpf.c), used by ebpf/loader.ts to program config versions
// and read counters without spawning bpftool. Build: npx node-gyp rebuild -C reference-impl/native
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

interface BpfAddon {
  bpfObjGet(path: string): number;
  bpfMapInfo(fd: number): [type: number, keySize: number, valueSize: number, maxEntries: number];
  bpfMapUpdate(fd: number, keys: Buffer, keySize: number, values: Buffer, valueSize: number): number;
  bpfMapDelete(fd: number, keys: Buffer, keySize: number): number;
  bpfMapLookup(fd: number, key: Buffer, out: Buffer): boolean;
  close(fd: number): void;
}

const addonPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build', 'Release', 'tun.node');
let addon: BpfAddon | undefined;

function load(): BpfAddon {
  if (!addon) {
    if (!existsSync(addonPath))
      throw new Error(
        `native addon not built (${addonPath}); run: npx node-gyp rebuild -C reference-impl/native`,
      );
    const a = createRequire(import.meta.url)(addonPath) as Partial<BpfAddon>;
    // A checkout pulled without `make setup` keeps an addon from before these calls existed.
    if (typeof a.bpfMapUpdate !== 'function')
      throw new Error(
        `native addon at ${addonPath} predates the bpf map calls; rebuild it (npx node-gyp rebuild -C reference-impl/native)`,
      );
    addon = a as BpfAddon;
  }
  return addon;
}

/** Number of possible CPUs, which sizes every per-CPU map value (the kernel's cpu_possible_mask). */
let cpus: number | undefined;
export function possibleCpus(): number {
  if (cpus !== undefined) return cpus;
  const spec = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let n = 0;
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    n = Math.max(n, (b ?? a) + 1);
  }
  return (cpus = n);
}

export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;

/** One pinned map, opened once; writes and deletes go in one addon call per batch of equal-size entries. */
export class PinnedMap {
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;

  constructor(readonly pin: string) {
    const a = load();
    this.fd = a.bpfObjGet(pin);
    [this.type, this.keySize, this.valueSize, this.maxEntries] = a.bpfMapInfo(this.fd);
  }

  private packed(bufs: Buffer[], size: number, what: string): Buffer {
    for (const b of bufs)
      if (b.length !== size)
        throw new RangeError(`${this.pin}: ${what} of ${b.length} bytes, the map takes ${size}`);
    return Buffer.concat(bufs, bufs.length * size);
  }

  /** Writes every pair (create or replace); throws at the first the kernel refuses. */
  update(keys: Buffer[], values: Buffer[]): void {
    if (keys.length === 0) return;
    load().bpfMapUpdate(
      this.fd,
      this.packed(keys, this.keySize, 'key'),
      this.keySize,
      this.packed(values, this.valueSize, 'value'),
      this.valueSize,
    );
  }

  /** Deletes the keys; absent ones are skipped. Returns how many were there. */
  delete(keys: Buffer[]): number {
    if (keys.length === 0) return 0;
    return load().bpfMapDelete(this.fd, this.packed(keys, this.keySize, 'key'), this.keySize);
  }

  /** The value of `key`, or undefined; per-CPU maps return every CPU's value, each padded to 8 bytes. */
  lookup(key: Buffer): Buffer | undefined {
    const perCpu = [
      BPF_MAP_TYPE_PERCPU_HASH,
      BPF_MAP_TYPE_PERCPU_ARRAY,
      BPF_MAP_TYPE_LRU_PERCPU_HASH,
    ].includes(this.type);
    const out = Buffer.alloc(perCpu ? Math.ceil(this.valueSize / 8) * 8 * possibleCpus() : this.valueSize);
    return load().bpfMapLookup(this.fd, key, out) ? out : undefined;
  }

  close(): void {
    try {
      load().close(this.fd);
    } catch {
      // already closed
    }
  }
}
