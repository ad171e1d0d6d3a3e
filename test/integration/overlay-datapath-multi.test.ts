// Two SaPs (pods on different nodes) and key rotation under traffic, on the real data path. Root only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, agentConfig, api, counters, waitApi } from './overlay-datapath-lab.ts';

const root = process.getuid?.() === 0;
const U = { sap1: '10.78.0.1', sap2: '10.78.0.2', a: '10.78.0.11', b: '10.78.0.12' };
const O = { a: '10.241.0.11', b: '10.241.0.12' };
const K1 = { epoch: 1, key: '11'.repeat(16) };
const K2 = { epoch: 2, key: '22'.repeat(16) };
type Key = typeof K1;

function sap(id: 'sap1' | 'sap2', version: number, keys: Key[], sendEpoch: number) {
  return {
    version,
    sapId: id,
    overlayId: 42,
    keys,
    sendEpoch,
    listen: { ip: U[id], port: 6080 },
    saps:
      id === 'sap1'
        ? [{ id: 'sap2', addr: { ip: U.sap2, port: 6080 } }]
        : [{ id: 'sap1', addr: { ip: U.sap1, port: 6080 } }],
    endpoints: [
      { overlayIp: O.a, sap: 'sap1', agent: { ip: U.a, port: 6080 } },
      {
        overlayIp: O.b,
        sap: 'sap2',
        agent: { ip: U.b, port: 6080 },
        isolatedIngress: true,
        ingress: [
          {
            peers: [{ cidr: O.a }],
            ports: [
              { protocol: 'TCP' as const, portFrom: 8080, portTo: 8080 },
              { protocol: 'UDP' as const, portFrom: 11111, portTo: 11111 },
            ],
          },
        ],
      },
    ],
  };
}

function agent(pod: 'a' | 'b', version: number, keys: Key[], sendEpoch: number) {
  const base = agentConfig(version, pod);
  return {
    ...base,
    overlayId: 42,
    overlayIp: O[pod],
    overlayCidr: '10.241.0.0/16',
    keys,
    sendEpoch,
    listen: { ip: U[pod], port: 6080 },
    sap: { ip: pod === 'a' ? U.sap1 : U.sap2, port: 6080 },
  };
}

async function pushAll(
  lab: Lab,
  version: number,
  keys: Key[],
  agentEpoch: number,
  sapEpoch: number,
  authMode: 'key' | 'mac' = 'key',
): Promise<void> {
  const rs = await Promise.all([
    api(lab.sock('sap1'), 'PUT', '/config', { ...sap('sap1', version, keys, sapEpoch), authMode }),
    api(lab.sock('sap2'), 'PUT', '/config', { ...sap('sap2', version, keys, sapEpoch), authMode }),
    api(lab.sock('a'), 'PUT', '/config', { ...agent('a', version, keys, agentEpoch), authMode }),
    api(lab.sock('b'), 'PUT', '/config', { ...agent('b', version, keys, agentEpoch), authMode }),
  ]);
  for (const r of rs) expect(r).toMatchObject({ status: 200, body: { applied: true, version } });
}

describe.skipIf(!root)('overlay data path across two SaPs', () => {
  const lab = new Lab();

  beforeAll(async () => {
    await lab.up();
    for (const h of ['sap1', 'sap2', 'a', 'b'] as const) await lab.host(h, U[h]);
    for (const s of ['sap1', 'sap2']) lab.spawnTs(s, 'reference-impl/sap/main.ts', ['--api', lab.sock(s)]);
    for (const p of ['a', 'b']) lab.spawnTs(p, 'reference-impl/agent/main.ts', ['--api', lab.sock(p)]);
    await Promise.all(['sap1', 'sap2', 'a', 'b'].map((n) => waitApi(lab.sock(n))));
    await pushAll(lab, 1, [K1], 1, 1);
    lab.spawn('b', ['socat', 'TCP-LISTEN:8080,reuseaddr,fork', 'EXEC:cat']);
    lab.spawn('b', ['socat', 'TCP-LISTEN:8081,reuseaddr,fork', 'EXEC:cat']);
    lab.spawn('b', ['sockperf', 'sr', '-i', '0.0.0.0', '-p', '11111']);
    await new Promise((r) => setTimeout(r, 400));
  });
  afterAll(() => lab.cleanup());

  it('forwards between nodes and enforces ingress at the destination SaP', async () => {
    const out = await lab.exec('a', [
      'sh',
      '-c',
      `echo across | socat -t2 - TCP:${O.b}:8080,connect-timeout=3`,
    ]);
    expect(out.trim()).toBe('across');
    await expect(
      lab.exec('a', ['sh', '-c', `echo x | socat -t1 - TCP:${O.b}:8081,connect-timeout=1`]),
    ).rejects.toThrow();
    const s1 = await counters(lab.sock('sap1'));
    const s2 = await counters(lab.sock('sap2'));
    // sap1 has no policy for a's egress and forwards; sap2 decides on b's ingress.
    expect(s1.deniedPolicy).toBe(0);
    expect(s2.deniedPolicy).toBeGreaterThanOrEqual(1);
    expect(s2.allowed).toBeGreaterThanOrEqual(1);
  });

  it('rotates the key under traffic without losing a packet', async () => {
    const run = lab.exec('a', ['sockperf', 'pp', '-i', O.b, '-p', '11111', '-t', '4', '--mps', '2000']);
    await new Promise((r) => setTimeout(r, 1000));
    // 1: everyone accepts both epochs; 2: SaPs send with the new one; 3: agents too; 4: old epoch removed.
    await pushAll(lab, 2, [K1, K2], 1, 1);
    await pushAll(lab, 3, [K1, K2], 1, 2);
    await pushAll(lab, 4, [K1, K2], 2, 2);
    await pushAll(lab, 5, [K2], 2, 2);
    const out = await run;
    const sent = Number(/SentMessages=(\d+)/.exec(out)?.[1]);
    expect(sent).toBeGreaterThan(1000);
    expect(out).toMatch(/# dropped messages = 0;/);
    const s2 = await counters(lab.sock('sap2'));
    expect((s2.badEpoch ?? 0) + (s2.badKey ?? 0)).toBe(0);
  });

  it('carries traffic in mode mac (per-packet HMAC, sequence numbers checked at every hop)', async () => {
    await pushAll(lab, 10, [K2], 2, 2, 'mac');
    const before = await counters(lab.sock('sap2'));
    const out = await lab.exec('a', ['sockperf', 'pp', '-i', O.b, '-p', '11111', '-t', '2', '--mps', '2000']);
    expect(out).toMatch(/# dropped messages = 0;/);
    const tcp = await lab.exec('a', ['sh', '-c', `echo mac | socat -t2 - TCP:${O.b}:8080,connect-timeout=3`]);
    expect(tcp.trim()).toBe('mac');
    const after = await counters(lab.sock('sap2'));
    expect(after.allowed! + after.allowedCached! - before.allowed! - before.allowedCached!).toBeGreaterThan(
      2000,
    );
    expect((after.replay ?? 0) + (after.badKey ?? 0)).toBe(0);
    // The mode is in force: an agent falling back to mode key is refused by its SaP.
    const r = await api(lab.sock('a'), 'PUT', '/config', { ...agent('a', 11, [K2], 2), authMode: 'key' });
    expect(r.status).toBe(200);
    await expect(
      lab.exec('a', ['sh', '-c', `echo x | socat -t1 - TCP:${O.b}:8080,connect-timeout=1`]),
    ).rejects.toThrow();
    expect((await counters(lab.sock('sap1'))).unknownMode).toBeGreaterThan(0);
  });
});
