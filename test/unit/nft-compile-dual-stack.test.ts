// The native compiler on dual-stack pods: both addresses dispatched to the pod's chain, selector peers named by
// both addresses, ipBlocks only in their own family's set, named-port tuples per family, and ICMPv6 neighbour
// discovery accepted before anything else (a default deny must never break it).
import { describe, expect, it } from 'vitest';
import { compileNftRuleset } from '../../src/enforce/native/compile.ts';
import type { Pod } from '../../src/policy/model.ts';
import { baseState, chainBody, policy, refs, setElements } from './nft-compile.fixture.ts';

const ds = (name: string, v4: string, v6: string, labels: Record<string, string>): Pod => ({
  namespace: 'x',
  name,
  node: 'n1',
  cluster: 'c1',
  ip: v4,
  ips: [v4, v6],
  labels,
  ports: [{ port: 8443, protocol: 'TCP', name: 'web' }],
});

describe('compileNftRuleset: dual-stack pods', () => {
  const p = ds('p', '10.1.1.20', 'fd00:10:1:1::14', { app: 'ds' });
  const q = ds('q', '10.1.1.21', 'fd00:10:1:1::15', { app: 'peer' });
  const pol = policy('x', 'ds', {
    podSelector: { matchLabels: { app: 'ds' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      { from: [{ podSelector: { matchLabels: { app: 'peer' } } }, { ipBlock: { cidr: '10.1.2.0/24' } }] },
    ],
    egress: [
      {
        to: [{ ipBlock: { cidr: 'fd00:10:1::/48', except: ['fd00:10:1:1::14/128'] } }],
        ports: [{ port: 'web' }],
      },
    ],
  });
  const text = compileNftRuleset(baseState([pol], [p, q]), 'n1');

  it('dispatches both addresses of a pod to its one chain', () => {
    expect(text).toContain('10.1.1.20 : jump pod_in_x_p');
    expect(text).toContain('fd00:10:1:1::14 : jump pod_in_x_p');
    expect(text).toContain('fd00:10:1:1::14 : jump pod_eg_x_p');
  });
  it('names a selector peer by both its addresses, an ipBlock only in its own family', () => {
    const ing = chainBody(text, 'pol_in_x_ds')!.slice(1);
    const v6 = ing.filter((l) => l.startsWith('ip6 saddr'));
    const v4 = ing.filter((l) => l.startsWith('ip saddr'));
    expect(v6.flatMap((l) => setElements(text, refs(l)[0]!))).toEqual(['fd00:10:1:1::15']);
    expect(v4.flatMap((l) => setElements(text, refs(l)[0]!)).sort()).toEqual(['10.1.1.21', '10.1.2.0/24']);
  });
  it('resolves an egress named port only at addresses the ipBlock admits, per family', () => {
    const eg = chainBody(text, 'pol_eg_x_ds')!.slice(1);
    const v6 = eg.find((l) => l.startsWith('ip6 daddr'))!;
    // q's IPv6 is in the block; p's own is excepted; no IPv4 address is in an IPv6 block.
    expect(setElements(text, refs(v6)[0]!)).toEqual(['fd00:10:1:1::15 . tcp . 8443']);
    expect(eg.some((l) => l.startsWith('ip daddr'))).toBe(false);
  });
  it('accepts ICMPv6 neighbour discovery first in both hooks', () => {
    for (const hook of ['forward', 'input'])
      expect(chainBody(text, hook)!.find((l) => !l.startsWith('type') && !l.startsWith('comment'))).toMatch(
        /^icmpv6 type \{ .*nd-neighbor-solicit, nd-neighbor-advert.* \} accept$/,
      );
    // IPv4-only rulesets are unchanged: no ICMPv6 rule.
    expect(compileNftRuleset(baseState([pol]), 'n1')).not.toContain('icmpv6');
  });
});
