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
  'overlay+l7': withL7('overlay+l7', createOverlayEnforcer),
};
