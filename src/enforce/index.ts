// Enforcement modes by name; each engineer adds one line for their mode.
import type { Mode } from '../scenario/schema.ts';
import type { EnforcerFactory } from './enforcer.ts';
import { createNativeEnforcer } from './native/index.ts';
import { withL7 } from './mesh/index.ts';
import { createNoneEnforcer } from './none.ts';
import { createOverlayEnforcer } from './overlay.ts';

export const ENFORCERS: Partial<Record<Mode, EnforcerFactory>> = {
  none: createNoneEnforcer,
  native: createNativeEnforcer,
  overlay: createOverlayEnforcer,
  'none+l7': withL7('none+l7', createNoneEnforcer),
  'native+l7': withL7('native+l7', createNativeEnforcer),
  'overlay+l7': withL7('overlay+l7', createOverlayEnforcer),
};
