// Every conformance scenario under the `overlay` mode (user-space data path) on Mininet; see
// overlay-conformance-suite.ts. The IPv6/dual-stack cases run as a sample unless TB_IPV6_FULL=1 (ipv6-sample.ts).
import { ipv6Sample } from './ipv6-sample.ts';
import { CONFORMANCE_FILES, conformanceSuite } from './overlay-conformance-suite.ts';

conformanceSuite('overlay', 'user', CONFORMANCE_FILES.filter(ipv6Sample));
