// Platform registry: the name given on the command line → the platform implementation.
import { UsageError } from '../errors.ts';
import type { Platform } from './platform.ts';

/** Options only some platforms read (Kubernetes: which cluster, which CNI); the others ignore them. */
export interface PlatformOptions {
  kubeconfig?: string;
  context?: string;
  cni?: string;
  /** Kubernetes: the testbed tools image for measurements inside pods (docker/tools.Dockerfile). */
  toolsImage?: string;
}

const PLATFORMS: Record<string, (o: PlatformOptions) => Promise<Platform>> = {
  mininet: async () => (await import('./mininet/index.ts')).mininetPlatform,
  kind: async (o) => (await import('./kubernetes/index.ts')).kindPlatform(o),
  kubernetes: async (o) => (await import('./kubernetes/index.ts')).kubernetesPlatform(o),
};

export const PLATFORM_NAMES = Object.keys(PLATFORMS);

export async function getPlatform(name: string, opts: PlatformOptions = {}): Promise<Platform> {
  const load = PLATFORMS[name];
  if (!load) throw new UsageError(`unknown platform '${name}' (available: ${PLATFORM_NAMES.join(', ')})`);
  return load(opts);
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
