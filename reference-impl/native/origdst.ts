// SO_ORIGINAL_DST for Node sockets, from the one N-API addon (src/tun.c, `originalDst`). After an nftables
// `redirect` the socket's local address is the proxy's own; the kernel's conntrack entry still knows where the
// connection was going, and this asks it. Build: npx node-gyp rebuild -C reference-impl/native
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const addonPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build', 'Release', 'tun.node');
let fn: ((fd: number) => [string, number]) | undefined;

/** Loads the addon's originalDst now, throwing with the fix when the addon is missing or stale. */
export function load(): (fd: number) => [string, number] {
  if (!fn) {
    if (!existsSync(addonPath))
      throw new Error(
        `native addon not built (${addonPath}); run: npx node-gyp rebuild -C reference-impl/native`,
      );
    const addon = createRequire(import.meta.url)(addonPath) as {
      originalDst?: (fd: number) => [string, number];
    };
    if (!addon.originalDst)
      throw new Error(
        `native addon at ${addonPath} predates originalDst; rebuild it (npx node-gyp rebuild -C reference-impl/native)`,
      );
    fn = addon.originalDst;
  }
  return fn;
}

/** The file descriptor behind a connected net.Socket (Node keeps it on the libuv handle). */
export function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return fd;
}

/** Where a redirected TCP connection was addressed: [address, port]. Throws when it was not redirected. */
export function originalDst(sock: Socket): { address: string; port: number } {
  const [address, port] = load()(socketFd(sock));
  return { address, port };
}
