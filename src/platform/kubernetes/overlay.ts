// The overlay's Kubernetes components come from the reference implementation's own generator
// (reference-impl/k8s/): this adapter only binds it to the harness's manifest hook, so there is one source of
// truth for what the overlay deploys.
import { UsageError } from '../../errors.ts';
import type { OverlayManifests } from './manifests.ts';
import type { KubeObject } from './objects.ts';

export const OVERLAY_NAMESPACE_SUFFIX = 'overlay-system';

interface Generator {
  /** The reference overlay image (built from reference-impl/Dockerfile). */
  OVERLAY_IMAGE: string;
  renderOverlayControlPlane(opts: Record<string, unknown>): KubeObject[];
  injectOverlayAgent(pod: KubeObject, opts: Record<string, unknown>): KubeObject;
}

export async function loadOverlayManifests(
  prefix: string,
  image?: string,
): Promise<OverlayManifests & { image: string }> {
  let gen: Generator;
  try {
    // A variable specifier: the generator lives in the reference implementation, outside src/'s compile unit.
    const where = '../../../reference-impl/k8s/index.ts';
    gen = (await import(where)) as Generator;
  } catch (e) {
    throw new UsageError(
      `overlay manifests: the generator in reference-impl/k8s/ could not be loaded (${(e as Error).message})`,
    );
  }
  const namespace = `${prefix}-${OVERLAY_NAMESPACE_SUFFIX}`;
  image ??= gen.OVERLAY_IMAGE;
  return {
    image,
    controlPlane: (cluster) => gen.renderOverlayControlPlane({ image, namespace, cluster, prefix }),
    injectAgent: (pod) => gen.injectOverlayAgent(pod, { image, namespace, prefix }),
  };
}
