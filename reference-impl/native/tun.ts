// Typed wrapper of the N-API TUN addon (src/tun.c). Build: npx node-gyp rebuild -C reference-impl/native
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

interface Addon {
  open(name: string, offload: boolean): [number, string];
  poll(
    fd: number,
    arena: Buffer,
    lens: Int32Array,
    slotSize: number,
    headroom: number,
    batch: number,
    cb: (first: number, n: number, err: number) => void,
  ): object;
  stop(handle: object): void;
  write(fd: number, buf: Buffer, off: number, len: number): number;
  close(fd: number): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const addonPath = path.join(here, 'build', 'Release', 'tun.node');
let addon: Addon | undefined;

function load(): Addon {
  if (!addon) {
    if (!existsSync(addonPath)) {
      throw new Error(
        `TUN addon not built (${addonPath}); run: npx node-gyp rebuild -C reference-impl/native`,
      );
    }
    addon = createRequire(import.meta.url)(addonPath) as Addon;
  }
  return addon;
}

export interface TunOptions {
  name: string;
  /** Largest packet read from the TUN (its MTU). */
  mtu: number;
  /** Free bytes kept in front of every packet read, so a header can be written in place. */
  headroom: number;
  /** Number of arena slots; a slot is reused after this many packets. */
  slots?: number;
  /** Packets read per wake-up at most. */
  batch?: number;
  /** virtio-net header in front of every packet, TSO super-packets and partial checksums (see src/tun.c). */
  offload?: boolean;
}

/** Length of struct virtio_net_hdr (TUN default) in front of each packet when offload is on. */
export const VNET_HDR_LEN = 10;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;

/**
 * Called once per wake-up with `n` packets: packet i lives in `arena` at `offsetOf(first + i)` (+ headroom) with
 * length `lens[slot]`. The arena is reused: copy what must outlive `slots` further packets.
 */
export type TunBatchHandler = (tun: Tun, first: number, n: number) => void;

export class Tun {
  readonly fd: number;
  readonly name: string;
  readonly arena: Buffer;
  readonly lens: Int32Array;
  readonly slotSize: number;
  readonly slots: number;
  readonly headroom: number;
  readonly offload: boolean;
  private handle: object | undefined;
  private readonly addon: Addon;
  closed = false;

  constructor(opts: TunOptions) {
    this.addon = load();
    this.offload = opts.offload ?? false;
    const [fd, name] = this.addon.open(opts.name, this.offload);
    this.fd = fd;
    this.name = name;
    this.headroom = opts.headroom;
    // 8-byte aligned slots keep header writes aligned-ish and the arithmetic simple.
    this.slotSize = (opts.headroom + opts.mtu + 7) & ~7;
    this.slots = opts.slots ?? 256;
    this.arena = Buffer.allocUnsafeSlow(this.slotSize * this.slots);
    this.lens = new Int32Array(this.slots);
    this.batchSize = opts.batch ?? 64;
  }
  private readonly batchSize: number;

  /** Byte offset of the packet in `slot` (the headroom precedes it). */
  packetOffset(slot: number): number {
    return slot * this.slotSize + this.headroom;
  }

  start(onBatch: TunBatchHandler, onError: (errno: number) => void = () => {}): void {
    if (this.handle || this.closed) return;
    this.handle = this.addon.poll(
      this.fd,
      this.arena,
      this.lens,
      this.slotSize,
      this.headroom,
      this.batchSize,
      (first, n, err) => {
        if (n > 0) onBatch(this, first, n);
        if (err) onError(err);
      },
    );
  }

  /** Writes one packet; returns bytes written or -errno (a full TUN queue drops, like a NIC). */
  write(buf: Buffer, off: number, len: number): number {
    return this.addon.write(this.fd, buf, off, len);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) this.addon.stop(this.handle);
    this.handle = undefined;
    this.addon.close(this.fd);
  }
}
