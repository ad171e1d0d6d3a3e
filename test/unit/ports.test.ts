import { describe, expect, it } from 'vitest';
import { resolvePort, rulePortsMatch } from '../../src/policy/ports.ts';
import { verdict } from '../../src/policy/engine.ts';
import type { ContainerPort, Protocol } from '../../src/policy/model.ts';
import { policy, xyz } from './policy-fixtures.ts';

const dst = (ports: ContainerPort[]) => ({ ports });

describe('resolvePort', () => {
  it('protocol defaults to TCP; protocol-only means every port', () => {
    expect(resolvePort({ port: 80 }, undefined)).toEqual({ protocol: 'TCP', from: 80, to: 80 });
    expect(resolvePort({ protocol: 'UDP' }, undefined)).toEqual({ protocol: 'UDP', from: 1, to: 65535 });
    expect(resolvePort({}, undefined)).toEqual({ protocol: 'TCP', from: 1, to: 65535 });
  });
  it('endPort is an inclusive range', () => {
    expect(resolvePort({ port: 8000, endPort: 8080, protocol: 'SCTP' }, undefined)).toEqual({
      protocol: 'SCTP',
      from: 8000,
      to: 8080,
    });
  });
  it('named ports resolve against the destination pod by name and protocol', () => {
    const a = dst([
      { port: 8080, protocol: 'TCP', name: 'web' },
      { port: 5353, protocol: 'UDP', name: 'dns' },
    ]);
    const b = dst([{ port: 9090, protocol: 'TCP', name: 'web' }]);
    expect(resolvePort({ port: 'web' }, a)).toEqual({ protocol: 'TCP', from: 8080, to: 8080 });
    expect(resolvePort({ port: 'web' }, b)).toEqual({ protocol: 'TCP', from: 9090, to: 9090 });
    expect(resolvePort({ port: 'dns' }, a)).toBeNull(); // dns is UDP; the rule port defaults to TCP
    expect(resolvePort({ port: 'dns', protocol: 'UDP' }, a)).toEqual({
      protocol: 'UDP',
      from: 5353,
      to: 5353,
    });
    expect(resolvePort({ port: 'web' }, undefined)).toBeNull();
  });
});

describe('rulePortsMatch', () => {
  const d = dst([{ port: 8080, protocol: 'TCP', name: 'web' }]);
  const m = (ports: Parameters<typeof rulePortsMatch>[0], proto: Protocol, port: number | undefined) =>
    rulePortsMatch(ports, proto, port, d);
  it('absent or empty ports admit every port and protocol', () => {
    expect(m(undefined, 'SCTP', 9)).toBe(true);
    expect(m([], 'UDP', 53)).toBe(true);
  });
  it('TCP, UDP and SCTP are distinct', () => {
    expect(m([{ port: 80 }], 'TCP', 80)).toBe(true);
    expect(m([{ port: 80 }], 'UDP', 80)).toBe(false);
    expect(m([{ port: 80, protocol: 'SCTP' }], 'SCTP', 80)).toBe(true);
    expect(m([{ port: 80, protocol: 'SCTP' }], 'TCP', 80)).toBe(false);
    expect(m([{ protocol: 'UDP' }], 'UDP', 12345)).toBe(true);
    expect(m([{ protocol: 'UDP' }], 'TCP', 12345)).toBe(false);
  });
  it('ranges are inclusive at both ends', () => {
    const r = [{ port: 8000, endPort: 8080 }];
    expect(m(r, 'TCP', 7999)).toBe(false);
    expect(m(r, 'TCP', 8000)).toBe(true);
    expect(m(r, 'TCP', 8080)).toBe(true);
    expect(m(r, 'TCP', 8081)).toBe(false);
  });
  it('an unresolvable flow port is admitted only by whole-protocol entries', () => {
    expect(m([{ port: 80 }], 'TCP', undefined)).toBe(false);
    expect(m([{ protocol: 'TCP' }], 'TCP', undefined)).toBe(true);
  });
});

describe('named ports in the engine', () => {
  it('one rule means different numbers on different destination pods', () => {
    const base = xyz();
    const s = {
      ...base,
      pods: base.pods.map((p) =>
        p.namespace === 'y' && p.name === 'b'
          ? { ...p, ports: [{ port: 81, protocol: 'TCP' as const, name: 'serve-80-tcp' }] }
          : p,
      ),
      policies: [policy('y/p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
    };
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 81, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/a', to: 'y/b', port: 81, protocol: 'TCP' }).allowed).toBe(true);
    // A named probe port resolves at the destination too.
    expect(verdict(s, { from: 'x/a', to: 'y/b', port: 'serve-80-tcp', protocol: 'TCP' }).allowed).toBe(true);
  });
  it('a named egress port resolves against the destination, not the source', () => {
    const base = xyz();
    const s = {
      ...base,
      pods: base.pods.map((p) =>
        p.namespace === 'y' && p.name === 'a'
          ? { ...p, ports: [{ port: 9000, protocol: 'TCP' as const, name: 'serve-80-tcp' }] }
          : p,
      ),
      policies: [policy('x/p', { podSelector: {}, egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
    };
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 9000, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP' }).allowed).toBe(false);
    expect(verdict(s, { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' }).allowed).toBe(true);
    expect(verdict(s, { from: 'x/a', to: 'ext:out', port: 80, protocol: 'TCP' }).allowed).toBe(false);
  });
});
