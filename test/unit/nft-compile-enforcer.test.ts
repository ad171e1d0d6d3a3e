// The native enforcer against a recording fake of Network.exec: which nodes get which text, when, and how nft
// errors come back. No root, no nft.
import { describe, expect, it } from 'vitest';
import {
  applyRuleset,
  nftError,
  nftTimeoutMs,
  NftApplyError,
  NftTimeoutError,
} from '../../src/enforce/native/apply.ts';
import { NativeEnforcer } from '../../src/enforce/native/index.ts';
import type { ExecOptions, ExecResult } from '../../src/platform/platform.ts';
import { baseState, policy } from './nft-compile.fixture.ts';

interface Call {
  host: string;
  argv: string[];
  input?: string;
}

function fakeNet(fail?: (c: Call) => ExecResult | undefined) {
  const calls: Call[] = [];
  return {
    calls,
    net: {
      exec: async (host: string, argv: string[], opts?: ExecOptions): Promise<ExecResult> => {
        const c: Call = { host, argv, input: opts?.input };
        calls.push(c);
        return fail?.(c) ?? { code: 0, stdout: '', stderr: '' };
      },
      address: (h: string) => `addr-of-${h}`,
    },
  };
}

const deny = policy('y', 'deny-all', { podSelector: {} });

describe('NativeEnforcer', () => {
  it('apply loads every node through nft -f - with the compiled text and reports timings and sizes', async () => {
    const { net, calls } = fakeNet();
    const e = new NativeEnforcer(net);
    const r = await e.apply(baseState([deny]));
    expect(calls.map((c) => c.host).sort()).toEqual(['node:m1', 'node:n1', 'node:n2']);
    for (const c of calls) {
      expect(c.argv).toEqual(['nft', '-f', '-']);
      expect(c.input).toMatch(
        /^# NetworkPolicy for node \w+ .*\ntable inet k8s_netpol\ndelete table inet k8s_netpol\n/,
      );
    }
    expect(calls.find((c) => c.host === 'node:n2')!.input).toContain('jump pod_in_y_c');
    expect(r.programmingMs).toBeGreaterThanOrEqual(Number(r.detail!.compileMs));
    expect(r.detail).toMatchObject({ nodes: 3, nodesApplied: 3 });
    expect(Number(r.detail!.ruleCount)).toBeGreaterThan(0);
    expect(Number(r.detail!.bytes)).toBe(calls.reduce((a, c) => a + Buffer.byteLength(c.input!), 0));
  });

  it('update re-applies only the nodes whose ruleset changed', async () => {
    const { net, calls } = fakeNet();
    const e = new NativeEnforcer(net);
    const s0 = baseState([deny]);
    await e.apply(s0);
    calls.length = 0;
    const r0 = await e.update({ ...s0 }, []);
    expect(calls).toEqual([]);
    expect(r0.detail).toMatchObject({ nodesApplied: 0 });
    // A policy in x selects x/a and x/a exists on n1 (cluster c1) and m1 (cluster c2): n2 is untouched.
    const allowX = policy('x', 'only-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    const r1 = await e.update({ ...s0, policies: [deny, allowX] }, [{ createPolicy: allowX }]);
    expect(calls.map((c) => c.host).sort()).toEqual(['node:m1', 'node:n1']);
    expect(r1.detail).toMatchObject({ nodesApplied: 2 });
  });

  it('teardown deletes the table on every node it programmed', async () => {
    const { net, calls } = fakeNet();
    const e = new NativeEnforcer(net);
    await e.apply(baseState([]));
    calls.length = 0;
    await e.teardown();
    expect(calls.map((c) => c.host).sort()).toEqual(['node:m1', 'node:n1', 'node:n2']);
    for (const c of calls) expect(c.input).toBe('table inet k8s_netpol\ndelete table inet k8s_netpol\n');
    calls.length = 0;
    await e.teardown();
    expect(calls).toEqual([]);
  });

  it('surfaces nft errors with the node and the offending line, and keeps the failed node out of the in-force set', async () => {
    let broken = true;
    const { net, calls } = fakeNet((c) =>
      broken && c.host === 'node:n2'
        ? {
            code: 1,
            stdout: '',
            stderr: '/dev/stdin:9:3-14: Error: Could not process rule: No such file or directory\n',
          }
        : undefined,
    );
    const e = new NativeEnforcer(net);
    const err = await e.apply(baseState([deny])).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NftApplyError);
    expect((err as NftApplyError).node).toBe('n2');
    expect((err as NftApplyError).line).toBe(9);
    const n2Text = calls.find((c) => c.host === 'node:n2')!.input!;
    expect((err as NftApplyError).lineText).toBe(n2Text.split('\n')[8]);
    expect((err as Error).message).toContain('node n2 at line 9');
    broken = false;
    calls.length = 0;
    await e.update(baseState([deny]), []);
    expect(calls.map((c) => c.host)).toContain('node:n2');
    calls.length = 0;
    await e.teardown();
    expect(calls.map((c) => c.host).sort()).toEqual(['node:m1', 'node:n1', 'node:n2']);
  });

  it('teardown after a failed first load still removes tables from the nodes that were attempted', async () => {
    const { net, calls } = fakeNet((c) =>
      c.host === 'node:m1' && c.argv.length === 3 && c.input?.includes('{')
        ? { code: 1, stdout: '', stderr: 'boom' }
        : undefined,
    );
    const e = new NativeEnforcer(net);
    await expect(e.apply(baseState([deny]))).rejects.toThrow(/node m1/);
    calls.length = 0;
    await e.teardown();
    expect(calls.map((c) => c.host).sort()).toEqual(['node:m1', 'node:n1', 'node:n2']);
  });

  it('targets platform addresses and declares SCTP unsupported', () => {
    const e = new NativeEnforcer(fakeNet().net);
    expect(e.targetAddress('x/a', 'y/c')).toBe('addr-of-y/c');
    expect(e.unsupportedProtocols()).toEqual(['SCTP']);
  });
});

describe('nftError', () => {
  it('without a position keeps the whole message', () => {
    const e = nftError('n1', 'a\nb', 'Error: something odd');
    expect(e.line).toBeUndefined();
    expect(e.message).toContain('something odd');
  });
});

describe('applyRuleset', () => {
  it('says a killed-by-timeout nft timed out (not that it rejected the ruleset)', async () => {
    const exec = async () => ({ code: 124, stdout: '', stderr: '', timedOut: true });
    const err = await applyRuleset(exec, 'n1', 'l1\nl2\nl3', { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftTimeoutError);
    expect((err as Error).message).toMatch(/node n1 \(3 lines\) within 5 s/);
    expect((err as Error).message).not.toMatch(/rejected/);
  });

  it("reports a rejection with nft's position", async () => {
    const exec = async () => ({ code: 1, stdout: '', stderr: '/dev/stdin:2:1-3: Error: syntax error' });
    const err = await applyRuleset(exec, 'n1', 'ok\nbad line', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftApplyError);
    expect((err as NftApplyError).line).toBe(2);
    expect((err as Error).message).toMatch(/rejected .* line 2: bad line/);
  });

  it('takes its timeout from TB_NFT_TIMEOUT_MS when set', () => {
    expect(nftTimeoutMs({ TB_NFT_TIMEOUT_MS: '1234' })).toBe(1234);
    expect(nftTimeoutMs({ TB_NFT_TIMEOUT_MS: 'x' })).toBe(180_000);
    expect(nftTimeoutMs({})).toBe(180_000);
  });
});
