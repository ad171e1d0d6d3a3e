// Platform registry: the name given on the command line → the platform implementation.
import { UsageError } from '../errors.ts';
import type { Platform } from './platform.ts';

const PLATFORMS: Record<string, () => Promise<Platform>> = {
  mininet: async () => (await import('./mininet/index.ts')).mininetPlatform,
};

export const PLATFORM_NAMES = Object.keys(PLATFORMS);

export async function getPlatform(name: string): Promise<Platform> {
  const load = PLATFORMS[name];
  if (!load) throw new UsageError(`unknown platform '${name}' (available: ${PLATFORM_NAMES.join(', ')})`);
  return load();
}

/** Brings a network up, runs `fn`, and always takes the network down, also when `fn` throws. */
export async function withNetwork<T>(
  platform: Platform,
  up: Parameters<Platform['up']>,
  fn: (net: import('./platform.ts').Network) => Promise<T>,
): Promise<T> {
  const net = await platform.up(...up);
  try {
    return await fn(net);
  } finally {
    await net.down();
  }
}
