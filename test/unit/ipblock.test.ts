import { describe, expect, it } from 'vitest';
import { cidrContains, ipInBlock, parseAddress, parseCIDR } from '../../src/policy/ipblock.ts';
import { peerEndpoints, verdict } from '../../src/policy/engine.ts';
import { policy, xyz } from './policy-fixtures.ts';

describe('CIDR arithmetic', () => {
  it('IPv4 prefixes, including non-octet boundaries', () => {
    expect(cidrContains(parseCIDR('10.0.0.0/8'), parseAddress('10.255.1.2'))).toBe(true);
    expect(cidrContains(parseCIDR('10.0.0.0/8'), parseAddress('11.0.0.0'))).toBe(false);
    expect(cidrContains(parseCIDR('10.1.2.64/26'), parseAddress('10.1.2.127'))).toBe(true);
    expect(cidrContains(parseCIDR('10.1.2.64/26'), parseAddress('10.1.2.128'))).toBe(false);
    expect(cidrContains(parseCIDR('10.1.2.64/26'), parseAddress('10.1.2.63'))).toBe(false);
    expect(cidrContains(parseCIDR('0.0.0.0/0'), parseAddress('203.0.113.9'))).toBe(true);
    expect(cidrContains(parseCIDR('10.1.2.3/32'), parseAddress('10.1.2.3'))).toBe(true);
    expect(cidrContains(parseCIDR('10.1.2.3/32'), parseAddress('10.1.2.2'))).toBe(false);
  });
  it('IPv6 prefixes', () => {
    expect(cidrContains(parseCIDR('fd00::/8'), parseAddress('fd12:3456::1'))).toBe(true);
    expect(cidrContains(parseCIDR('fd00:1::/33'), parseAddress('fd00:1:7fff::1'))).toBe(true);
    expect(cidrContains(parseCIDR('fd00:1::/33'), parseAddress('fd00:1:8000::1'))).toBe(false);
    expect(cidrContains(parseCIDR('::/0'), parseAddress('2001:db8::1'))).toBe(true);
  });
  it('a CIDR of the other family matches nothing', () => {
    expect(cidrContains(parseCIDR('::/0'), parseAddress('10.0.0.1'))).toBe(false);
    expect(cidrContains(parseCIDR('0.0.0.0/0'), parseAddress('fd00::1'))).toBe(false);
  });
  it('except carves ranges out', () => {
    const b = { cidr: '10.1.0.0/16', except: ['10.1.1.0/24', '10.1.2.10/32'] };
    expect(ipInBlock('10.1.3.4', b)).toBe(true);
    expect(ipInBlock('10.1.1.4', b)).toBe(false);
    expect(ipInBlock('10.1.2.10', b)).toBe(false);
    expect(ipInBlock('10.1.2.11', b)).toBe(true);
    expect(ipInBlock('fd00::1', { cidr: 'fd00::/16', except: ['fd00::/64'] })).toBe(false);
    expect(ipInBlock('fd00:0:0:1::1', { cidr: 'fd00::/16', except: ['fd00::/64'] })).toBe(true);
  });
});

describe('ipBlock peers in the engine', () => {
  it('match pods, nodes and externals by address; except excludes', () => {
    const s = xyz([
      policy('y/p', {
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.1.1.0/24', except: ['10.1.1.10/32'] } }] }],
      }),
    ]);
    // n1 hosts pods a and c (10.1.1.x); x/a is 10.1.1.10 (excepted).
    const refs = peerEndpoints(s, s.policies[0]!, s.policies[0]!.spec.ingress![0]!.from![0]!, 'c1').map(
      (e) => e.ref,
    );
    expect(refs.sort()).toEqual(['x/c', 'y/a', 'y/c', 'z/a', 'z/c']);
    expect(verdict(s, { from: 'x/c', to: 'y/b', port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/b', to: 'y/b', port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });
  it('egress to an external host by ipBlock; an IPv6 block never matches IPv4 hosts', () => {
    const s = xyz([
      policy('x/v4', {
        podSelector: { matchLabels: { pod: 'a' } },
        egress: [{ to: [{ ipBlock: { cidr: '198.19.0.0/24' } }] }],
      }),
      policy('x/v6', {
        podSelector: { matchLabels: { pod: 'b' } },
        egress: [{ to: [{ ipBlock: { cidr: '::/0' } }] }],
      }),
    ]);
    expect(verdict(s, { from: 'x/a', to: 'ext:out', port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/b', to: 'ext:out', port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/b', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });
  it('IPv6 pods are matched by IPv6 blocks', () => {
    const base = xyz();
    const s = {
      ...base,
      pods: base.pods.map((p) => (p.namespace === 'x' && p.name === 'a' ? { ...p, ip: 'fd00:10::a' } : p)),
      policies: [
        policy('y/p', {
          podSelector: {},
          ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10::/64', except: ['fd00:10::b/128'] } }] }],
        }),
      ],
    };
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/b', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });
});
