// Every conformance scenario under the `overlay` mode (user-space data path) on Mininet; see
// overlay-conformance-suite.ts.
import { conformanceSuite } from './overlay-conformance-suite.ts';

conformanceSuite('overlay', 'user');
