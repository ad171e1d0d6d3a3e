import { describe, expect, it } from 'vitest';
import { compileAllNodes, compileNftRuleset } from '../../src/enforce/native/compile.ts';
import {
  baseState,
  chainBody,
  chainNames,
  pod,
  policy,
  refs,
  setElements,
  setFlags,
} from './nft-compile.fixture.ts';

const denyAllY = policy('y', 'deny-all', { podSelector: {} });

describe('compileNftRuleset: isolation and dispatch', () => {
  it('renders no pod chains and empty dispatch maps without policies', () => {
    const text = compileNftRuleset(baseState([]), 'n1');
    expect(chainNames(text)).toEqual(['forward', 'input']);
    expect(text).toMatch(/map ingress_dispatch \{\n\t\ttype ipv4_addr : verdict\n\t\}/);
    expect(chainBody(text, 'forward')).toEqual([
      'type filter hook forward priority filter; policy accept;',
      'comment "pod traffic routed by this node"',
      'ct state established,related accept',
      'ct state invalid drop',
      'fib saddr type local accept',
      'ip saddr vmap @egress_dispatch',
      'ip daddr vmap @ingress_dispatch',
    ]);
    // Pod-to-own-node traffic is local delivery: only egress can apply there.
    expect(chainBody(text, 'input')).toContain('ip saddr vmap @egress_dispatch');
    expect(chainBody(text, 'input')!.join('\n')).not.toContain('ingress_dispatch');
  });

  it('deny-all: a pod chain per selected pod on its own node only, with no jumps, that drops', () => {
    const state = baseState([denyAllY]);
    const n1 = compileNftRuleset(state, 'n1');
    const n2 = compileNftRuleset(state, 'n2');
    expect(chainNames(n1).filter((c) => c.startsWith('pod_'))).toEqual([]);
    expect(chainNames(n2).filter((c) => c.startsWith('pod_'))).toEqual(['pod_in_y_c', 'pod_in_y_d']);
    expect(chainBody(n2, 'pod_in_y_c')).toEqual(['comment "ingress of pod y/c"', 'counter drop']);
    expect(n2).toContain('10.1.2.10 : jump pod_in_y_c');
    expect(n2).toContain('10.1.2.11 : jump pod_in_y_d');
    // The same namespace exists in cluster c2 but no pod of y runs there; x/a on m1 is not selected.
    expect(chainNames(compileNftRuleset(state, 'm1')).filter((c) => c.startsWith('pod_'))).toEqual([]);
  });

  it('isolates only the direction in policyTypes and leaves unselected pods without chains', () => {
    const p = policy('x', 'eg-only', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    const text = compileNftRuleset(baseState([p]), 'n1');
    const pods = chainNames(text).filter((c) => c.startsWith('pod_'));
    expect(pods).toEqual(['pod_eg_x_a']);
    expect(text).toContain('10.1.1.10 : jump pod_eg_x_a');
    expect(chainBody(text, 'pod_eg_x_a')).toEqual([
      'comment "egress of pod x/a"',
      'jump pol_eg_x_eg-only',
      'meta mark & 0x00010000 == 0 counter drop',
      'meta mark set meta mark & 0xfffeffff',
    ]);
    const rule = chainBody(text, 'pol_eg_x_eg-only')!.find((l) => l.startsWith('ip daddr'))!;
    expect(rule).toMatch(/^ip daddr @pods4_\w+ meta mark set meta mark \| 0x00010000 return$/);
    expect(setElements(text, refs(rule)[0]!)).toEqual(['10.1.1.11']);
  });

  it('a multi-cluster policy: each cluster selects its own pods and peers', () => {
    const p = policy('x', 'from-a', {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }],
    });
    const state = baseState([p]);
    const m1 = compileNftRuleset(state, 'm1');
    expect(m1).toContain('10.2.1.10 : jump pod_in_x_a');
    const rule = chainBody(m1, 'pol_in_x_from-a')!.find((l) => l.startsWith('ip saddr'))!;
    // Selectors never reach across clusters: only c2's x/a.
    expect(setElements(m1, refs(rule)[0]!)).toEqual(['10.2.1.10']);
    const n1 = compileNftRuleset(state, 'n1');
    const rule1 = chainBody(n1, 'pol_in_x_from-a')!.find((l) => l.startsWith('ip saddr'))!;
    expect(setElements(n1, refs(rule1)[0]!)).toEqual(['10.1.1.10']);
  });

  it('policy with ingress: [] plus one with rules: the pod chain jumps only to the one with rules', () => {
    const deny = policy('x', 'deny', { podSelector: {}, ingress: [] });
    const allow = policy('x', 'allow-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    const text = compileNftRuleset(baseState([deny, allow]), 'n1');
    expect(chainBody(text, 'pod_in_x_a')).toContain('jump pol_in_x_allow-y');
    expect(chainBody(text, 'pod_in_x_a')!.filter((l) => l.startsWith('jump'))).toHaveLength(1);
    expect(chainBody(text, 'pod_in_x_b')).toEqual(['comment "ingress of pod x/b"', 'counter drop']);
    const rule = chainBody(text, 'pol_in_x_allow-y')!.find((l) => l.startsWith('ip saddr'))!;
    expect(setElements(text, refs(rule)[0]!)).toEqual(['10.1.2.10', '10.1.2.11']);
  });

  it('a rule with no peers and no ports matches everything; a selector matching nothing renders no rule', () => {
    const open = policy('x', 'open', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{}] });
    const none = policy('x', 'none', {
      podSelector: { matchLabels: { pod: 'b' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'zzz' } } }] }],
    });
    const text = compileNftRuleset(baseState([open, none]), 'n1');
    expect(chainBody(text, 'pol_in_x_open')).toEqual([
      'comment "ingress rules of x/open"',
      'meta mark set meta mark | 0x00010000 return',
    ]);
    expect(chainNames(text)).not.toContain('pol_in_x_none');
    expect(chainBody(text, 'pod_in_x_b')).toEqual(['comment "ingress of pod x/b"', 'counter drop']);
  });
});

describe('compileNftRuleset: peers and ports', () => {
  it('ipBlock: except carved out of an interval set, other-family ranges in their own set, never widened', () => {
    const p = policy('y', 'cidr', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.1.0/24', '10.1.2.128/25'] } },
            { ipBlock: { cidr: 'fd00::/64' } },
          ],
        },
      ],
    });
    const text = compileNftRuleset(baseState([p]), 'n2');
    const lines = chainBody(text, 'pol_in_y_cidr')!.slice(1);
    expect(lines).toHaveLength(2);
    const v4 = refs(lines.find((l) => l.startsWith('ip saddr'))!)[0]!;
    expect(setFlags(text, v4)).toEqual({ type: 'ipv4_addr', interval: true });
    expect(setElements(text, v4)).toEqual([
      '10.0.0.0/16',
      '10.1.0.0/24',
      '10.1.2.0/25',
      '10.1.3.0/24',
      '10.1.4.0/22',
      '10.1.8.0/21',
      '10.1.16.0/20',
      '10.1.32.0/19',
      '10.1.64.0/18',
      '10.1.128.0/17',
      '10.2.0.0/15',
      '10.4.0.0/14',
      '10.8.0.0/13',
      '10.16.0.0/12',
      '10.32.0.0/11',
      '10.64.0.0/10',
      '10.128.0.0/9',
    ]);
    const v6 = refs(lines.find((l) => l.startsWith('ip6 saddr'))!)[0]!;
    expect(setFlags(text, v6)).toEqual({ type: 'ipv6_addr', interval: true });
    expect(setElements(text, v6)).toEqual(['fd00::/64']);
  });

  it('overlapping ipBlocks in one rule merge into disjoint intervals; a CIDR entirely excepted renders nothing', () => {
    const p = policy('y', 'ovl', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '192.168.0.0/24' } },
            { ipBlock: { cidr: '192.168.0.128/25' } },
            { ipBlock: { cidr: '192.168.1.0/24' } },
          ],
        },
        { from: [{ ipBlock: { cidr: '172.16.0.0/16', except: ['172.16.0.0/12'] } }] },
      ],
    });
    const text = compileNftRuleset(baseState([p]), 'n2');
    const lines = chainBody(text, 'pol_in_y_ovl')!.slice(1);
    expect(lines).toHaveLength(1);
    expect(setElements(text, refs(lines[0]!)[0]!)).toEqual(['192.168.0.0/23']);
  });

  it('ports: default TCP, endPort as an interval, protocol-only as the whole range, SCTP kept', () => {
    const p = policy('y', 'ports', {
      podSelector: { matchLabels: { pod: 'd' } },
      ingress: [
        {
          ports: [
            { port: 80 },
            { protocol: 'TCP', port: 1000, endPort: 2000 },
            { protocol: 'UDP' },
            { protocol: 'SCTP', port: 9 },
            { port: 1500 },
          ],
        },
      ],
    });
    const text = compileNftRuleset(baseState([p]), 'n2');
    const line = chainBody(text, 'pol_in_y_ports')![1]!;
    expect(line).toMatch(/^meta l4proto \. th dport @ports_\w+ meta mark set/);
    const set = refs(line)[0]!;
    expect(setFlags(text, set)).toEqual({ type: 'inet_proto . inet_service', interval: true });
    expect(setElements(text, set)).toEqual(['tcp . 80', 'tcp . 1000-2000', 'udp . 0-65535', 'sctp . 9']);
  });

  it('ingress named ports resolve per destination pod: one chain per distinct resolution', () => {
    const p = policy('x', 'named', {
      podSelector: {},
      ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }],
    });
    const text = compileNftRuleset(baseState([p]), 'n1');
    const jumpA = chainBody(text, 'pod_in_x_a')!
      .find((l) => l.startsWith('jump'))!
      .slice(5);
    const jumpB = chainBody(text, 'pod_in_x_b')!
      .find((l) => l.startsWith('jump'))!
      .slice(5);
    expect(jumpA).not.toEqual(jumpB);
    expect(jumpA).toMatch(/^pol_in_x_named_np[0-9a-f]{6}$/);
    const portsOf = (chain: string) => setElements(text, refs(chainBody(text, chain)![1]!)[1]!);
    expect(portsOf(jumpA)).toEqual(['tcp . 80', 'udp . 53']);
    expect(portsOf(jumpB)).toEqual(['tcp . 8080']);
  });

  it('egress named ports resolve at each destination pod into (address . protocol . port) tuples', () => {
    const p = policy('x', 'eg-named', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: {} }, { ipBlock: { cidr: '10.2.0.0/16' } }],
          ports: [{ port: 'http' }, { port: 443 }],
        },
      ],
    });
    const text = compileNftRuleset(baseState([p]), 'n1');
    const lines = chainBody(text, 'pol_eg_x_eg-named')!.slice(1);
    const tuples = lines.find((l) => l.startsWith('ip daddr . meta l4proto . th dport'))!;
    expect(setFlags(text, refs(tuples)[0]!).type).toBe('ipv4_addr . inet_proto . inet_service');
    // y/d has no port named http; the c2 pod is a peer through the ipBlock and resolves at its own spec.
    expect(setElements(text, refs(tuples)[0]!)).toEqual([
      '10.1.1.10 . tcp . 80',
      '10.1.1.11 . tcp . 8080',
      '10.1.2.10 . tcp . 81',
      '10.2.1.10 . tcp . 80',
    ]);
    const numeric = lines.filter((l) => l.includes('@ports_'));
    expect(numeric).toHaveLength(2);
    for (const l of numeric) expect(setElements(text, refs(l)[1]!)).toEqual(['tcp . 443']);
  });

  it('equal peer sets are shared between policies', () => {
    const a = policy('y', 'p1', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'd' } } }] }],
    });
    const b = policy('y', 'p2', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'd' } } }], ports: [{ port: 81 }] }],
    });
    const text = compileNftRuleset(baseState([a, b]), 'n2');
    expect(refs(chainBody(text, 'pol_in_y_p1')![1]!)[0]).toEqual(
      refs(chainBody(text, 'pol_in_y_p2')![1]!)[0],
    );
    expect(text.match(/\tset pods4_/g)).toHaveLength(1);
  });
});

describe('compileNftRuleset: IPv6 pods', () => {
  it('an IPv6 pod is dispatched through ip6 maps and matched through ip6 sets', () => {
    const v6pod = pod('x', 'six', 'n1', 'fd01::10', { pod: 'six' }, [
      { port: 80, protocol: 'TCP', name: 'http' },
    ]);
    const p = policy('x', 'six', {
      podSelector: { matchLabels: { pod: 'six' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [
        {
          to: [
            { podSelector: { matchLabels: { pod: 'a' } } },
            { podSelector: { matchLabels: { pod: 'six' } } },
          ],
          ports: [{ port: 'http' }],
        },
      ],
    });
    const text = compileNftRuleset(baseState([p], [v6pod]), 'n1');
    expect(text).toContain('fd01::10 : jump pod_in_x_six');
    expect(chainBody(text, 'forward')).toEqual(
      expect.arrayContaining(['ip6 saddr vmap @egress_dispatch6', 'ip6 daddr vmap @ingress_dispatch6']),
    );
    const ing = chainBody(text, 'pol_in_x_six')!.slice(1);
    const v6line = ing.find((l) => l.startsWith('ip6 saddr'))!;
    expect(setElements(text, refs(v6line)[0]!)).toEqual(['fd01::10']);
    expect(setElements(text, refs(ing.find((l) => l.startsWith('ip saddr'))!)[0]!)).toEqual([
      '10.1.1.10',
      '10.1.1.11',
    ]);
    const eg = chainBody(text, 'pol_eg_x_six')!.slice(1);
    expect(setElements(text, refs(eg.find((l) => l.startsWith('ip6 daddr'))!)[0]!)).toEqual([
      'fd01::10 . tcp . 80',
    ]);
    expect(setElements(text, refs(eg.find((l) => l.startsWith('ip daddr'))!)[0]!)).toEqual([
      '10.1.1.10 . tcp . 80',
    ]);
  });
});

describe('compileNftRuleset: names and determinism', () => {
  it('is deterministic and independent of the order of pods and policies', () => {
    const p1 = policy('x', 'p1', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
    });
    const p2 = policy('x', 'p2', {
      podSelector: {},
      ingress: [{ ports: [{ port: 81 }] }],
      egress: [{ ports: [{ port: 'http' }] }],
    });
    const s1 = baseState([p1, p2]);
    const s2 = { ...s1, pods: [...s1.pods].reverse(), policies: [p2, p1] };
    const t1 = compileNftRuleset(s1, 'n1');
    expect(t1).toBe(compileNftRuleset(baseState([p1, p2]), 'n1'));
    expect(compileNftRuleset(s2, 'n1')).toBe(t1);
    // Jumps follow policy names, whatever the order in the state.
    expect(chainBody(t1, 'pod_in_x_a')!.filter((l) => l.startsWith('jump'))).toEqual([
      'jump pol_in_x_p1',
      'jump pol_in_x_p2',
    ]);
  });

  it('long or unusual names become valid, distinct identifiers within the length limit', () => {
    const long = 'a'.repeat(60);
    const p1 = policy('x', `${long}-1`, { podSelector: {}, ingress: [] });
    const p2 = policy('x', `${long}-2`, { podSelector: {}, ingress: [{}] });
    const text = compileNftRuleset(baseState([p1, p2]), 'n1');
    const names = chainNames(text).filter((c) => c.startsWith('pol_'));
    expect(names).toHaveLength(1);
    for (const n of chainNames(text)) expect(n).toMatch(/^[a-z][a-z0-9_.-]{0,63}$/);
    const p3 = policy('x', `${long}-3`, { podSelector: {}, ingress: [{}] });
    const both = chainNames(compileNftRuleset(baseState([p2, p3]), 'n1')).filter((c) => c.startsWith('pol_'));
    expect(new Set(both).size).toBe(2);
  });

  it('compileAllNodes returns one ruleset per node, each starting with the atomic replace preamble', () => {
    const all = compileAllNodes(baseState([denyAllY]));
    expect(all.map((r) => r.node)).toEqual(['m1', 'n1', 'n2']);
    for (const r of all) {
      expect(r.text.split('\n').slice(1, 4)).toEqual([
        'table inet k8s_netpol',
        'delete table inet k8s_netpol',
        'table inet k8s_netpol {',
      ]);
      expect(r.ruleCount).toBeGreaterThan(0);
    }
    expect(all.find((r) => r.node === 'n2')!.ruleCount).toBe(all.find((r) => r.node === 'n1')!.ruleCount + 2);
  });

  it('throws on an unknown node', () => {
    expect(() => compileNftRuleset(baseState([]), 'nope')).toThrow(/unknown node/);
  });
});
