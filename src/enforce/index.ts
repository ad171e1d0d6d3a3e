// Enforcement modes by name; each engineer adds one line for their mode.
import type { Mode } from '../scenario/schema.ts';
import type { EnforcerFactory } from './enforcer.ts';
import { onKubernetes } from './kubernetes-dispatch.ts';
import { createNativeEnforcer } from './native/index.ts';
import { withL7 } from './mesh/index.ts';
import { createNoneEnforcer } from './none.ts';
import { createOverlayEbpfEnforcer, createOverlayEnforcer } from './overlay.ts';

// On a Kubernetes network a mode means posting (or not posting) API objects rather than local rulesets, so each
// factory looks at the network it is given (onKubernetes); on Mininet it is the factory it always was.
export const ENFORCERS: Partial<Record<Mode, EnforcerFactory>> = {
  none: onKubernetes('none', createNoneEnforcer),
  native: onKubernetes('native', createNativeEnforcer),
  overlay: onKubernetes('overlay', createOverlayEnforcer),
  'overlay-ebpf': onKubernetes('overlay-ebpf', createOverlayEbpfEnforcer),
  'none+l7': onKubernetes('none+l7', withL7('none+l7', createNoneEnforcer)),
  'native+l7': onKubernetes('native+l7', withL7('native+l7', createNativeEnforcer)),
  'overlay+l7': onKubernetes('overlay+l7', withL7('overlay+l7', createOverlayEnforcer)),
};
