import { describe, expect, it } from 'vitest';
import { parseSapConfig } from '../sap/config.ts';
import { parseAgentConfig } from './config.ts';
import { guardRuleset } from './guard.ts';
import { defaultMtu, overhead } from './setup.ts';

const base = {
  version: 1,
  overlayId: 1,
  overlayIp: '10.240.0.1',
  overlayCidr: '10.240.0.0/16',
  keys: [{ epoch: 0, key: '00'.repeat(16) }],
  sendEpoch: 0,
  listen: { ip: '10.0.0.1' },
  sap: { ip: '10.0.0.254' },
};

describe('agent', () => {
  it('computes overhead and MTU: IPv4 20 + UDP 8 + GUE 12 + key', () => {
    expect(overhead(16)).toBe(56);
    expect(defaultMtu(16)).toBe(1444);
    expect(defaultMtu(32, 9000)).toBe(9000 - 72);
    expect(overhead(17)).toBe(20 + 8 + 12 + 20); // padded to 32-bit words
  });

  it('guard admits only lo, the TUN, established, and GUE from listed SaPs to the agent port', () => {
    const r = guardRuleset({
      tun: 'ov0',
      agentPort: 6080,
      saps: [
        { ip: '10.0.0.254', port: 6080 },
        { ip: '10.0.0.253', port: 7000 },
      ],
    });
    expect(r).toContain('policy drop;');
    expect(r).toContain('iifname "ov0" accept');
    expect(r).toContain(
      'ip saddr . udp sport { 10.0.0.254 . 6080, 10.0.0.253 . 7000 } udp dport 6080 accept',
    );
    expect(r.match(/accept/g)?.length).toBe(5);
  });

  it('validates pushed configs', () => {
    const cfg = parseAgentConfig(base);
    expect(cfg.listen.port).toBe(6080);
    expect(cfg.guard).toBe(true);
    expect(() => parseAgentConfig({ ...base, sendEpoch: 3 })).toThrow(/sendEpoch/);
    expect(() => parseAgentConfig({ ...base, keys: [{ epoch: 0, key: 'abc' }] })).toThrow();
    expect(() => parseAgentConfig({ ...base, overlayIp: '10.240.0.300' })).toThrow();
    expect(() =>
      parseSapConfig({ ...base, sapId: 's', endpoints: [{ overlayIp: '10.240.0.1', sap: 's' }] }),
    ).toThrow(/without agent/);
  });
});
