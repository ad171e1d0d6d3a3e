// The overlay data path for real: SaP and two agents in their own namespaces on a bridge, configs pushed
// directly (no control plane), plus an attacker on the underlay. Root only.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTO_IPV4, encodeHeader, headerLength } from '../../reference-impl/gue/codec.ts';
import { ipToU32 } from '../../reference-impl/sap/packet.ts';
import {
  KEY,
  Lab,
  OVERLAY,
  OVERLAY_ID,
  UNDERLAY,
  agentConfig,
  api,
  counters,
  startOverlay,
} from './overlay-datapath-lab.ts';

const root = process.getuid?.() === 0;

// Sends raw UDP payloads from the attacker; with a source address the IP header is forged (IP_HDRINCL).
const SEND_PY = `
import socket, struct, sys
src, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
for h in sys.argv[4:]:
    data = bytes.fromhex(h)
    if src == '-':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', 6080))
        s.sendto(data, (dst, dport)); s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        udp = struct.pack('!HHHH', 6080, dport, 8 + len(data), 0)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28 + len(data), 1, 0x4000, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        s.sendto(ip + udp + data, (dst, 0)); s.close()
`;

function innerUdp(src: string, dst: string, dport: number): Buffer {
  const b = Buffer.alloc(29);
  b[0] = 0x45;
  b.writeUInt16BE(29, 2);
  b[8] = 64;
  b[9] = 17;
  b.writeUInt32BE(ipToU32(src), 12);
  b.writeUInt32BE(ipToU32(dst), 16);
  b.writeUInt16BE(40000, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt16BE(9, 24);
  b[28] = 0x78;
  return b;
}

function gue(inner: Buffer, key = KEY.key, overlay = OVERLAY_ID, epoch = KEY.epoch): string {
  const k = Buffer.from(key, 'hex');
  const hl = headerLength(k.length);
  const b = Buffer.alloc(hl + inner.length);
  encodeHeader(b, 0, PROTO_IPV4, overlay, epoch, k);
  inner.copy(b, hl);
  return b.toString('hex');
}

const FORGED = 'ffeeddccbbaa99887766554433221100';

describe.skipIf(!root)('overlay data path (agent → SaP → agent)', () => {
  const lab = new Lab();
  let echo: ChildProcess | undefined;

  beforeAll(async () => {
    await startOverlay(lab);
    echo = lab.spawn('b', ['socat', 'TCP-LISTEN:8080,reuseaddr,fork', 'EXEC:cat']);
    lab.spawn('b', ['socat', 'UDP-LISTEN:9000,reuseaddr,fork', 'EXEC:cat']);
    lab.spawn('b', ['socat', 'TCP-LISTEN:8081,reuseaddr,fork', 'EXEC:cat']);
    await new Promise((r) => setTimeout(r, 300));
  });
  afterAll(async () => {
    await lab.cleanup();
    expect((await lab.run(['ip', 'netns', 'list'])).includes(lab.prefix)).toBe(false);
  });

  it('carries allowed TCP and UDP between the overlay addresses', async () => {
    const tcp = await lab.exec('a', [
      'sh',
      '-c',
      `echo tcp-hello | socat -t2 - TCP:${OVERLAY.b}:8080,connect-timeout=3`,
    ]);
    expect(tcp.trim()).toBe('tcp-hello');
    const udp = await lab.exec('a', ['sh', '-c', `echo udp-hello | socat -t1 - UDP:${OVERLAY.b}:9000`]);
    expect(udp.trim()).toBe('udp-hello');
    // A datagram larger than the TUN MTU leaves the pod as IP fragments; the SaP passes the rest after the first.
    const big = await lab.exec('a', [
      'sh',
      '-c',
      `head -c 3000 /dev/zero | tr '\\0' x | socat -t1 - UDP:${OVERLAY.b}:9000`,
    ]);
    expect(big.length).toBe(3000);
    const s = await counters(lab.sock('sap'));
    expect(s.allowed).toBeGreaterThanOrEqual(2);
    expect(s.allowedCached).toBeGreaterThan(0);
    expect(s.allowedFragment).toBeGreaterThanOrEqual(2);
    expect((await counters(lab.sock('b'))).decap).toBeGreaterThan(0);
  });

  it('drops and counts what the policy does not allow', async () => {
    const before = await counters(lab.sock('sap'));
    await expect(
      lab.exec('a', ['sh', '-c', `echo x | socat -t1 - TCP:${OVERLAY.b}:8081,connect-timeout=1`]),
    ).rejects.toThrow();
    await expect(lab.exec('a', ['ping', '-c', '2', '-W', '1', '-i', '0.2', OVERLAY.b])).rejects.toThrow();
    const after = await counters(lab.sock('sap'));
    expect(after.deniedPolicy! - before.deniedPolicy!).toBeGreaterThanOrEqual(3);
    expect(after.allowed).toBe(before.allowed);
  });

  it('counts spoofed inner sources from a legitimate agent', async () => {
    const before = await counters(lab.sock('sap'));
    // Pod a forges the source of a packet it routes into its own TUN.
    await lab.exec('a', ['python3', '-c', SEND_PY, '10.240.1.99', OVERLAY.b, '9000', '01', '02', '03']);
    await new Promise((r) => setTimeout(r, 100));
    const after = await counters(lab.sock('sap'));
    expect(after.spoofedSource! - before.spoofedSource!).toBe(3);
  });

  it('delivers nothing an attacker on the underlay sends, and counts every packet', async () => {
    const sap0 = await counters(lab.sock('sap'));
    const b0 = await counters(lab.sock('b'));
    const toB = innerUdp(OVERLAY.a, OVERLAY.b, 9000);
    const send = (src: string, dst: string, pkts: string[]) =>
      lab.exec('attacker', ['python3', '-c', SEND_PY, src, dst, '6080', ...pkts]);
    // To the SaP: forged key, other overlay, malformed, and a correct key from a sender that is no agent.
    await send('-', UNDERLAY.sap, [
      gue(toB, FORGED),
      gue(toB, FORGED),
      gue(toB, KEY.key, OVERLAY_ID + 1),
      '00ff',
      gue(toB).slice(0, 40),
      gue(toB),
    ]);
    // To agent b directly: from the attacker's address (guard), and with the SaP's address forged.
    await send('-', UNDERLAY.b, [gue(toB), gue(toB)]);
    await send(UNDERLAY.sap, UNDERLAY.b, [gue(toB, FORGED), gue(toB, KEY.key, OVERLAY_ID + 1), 'abcdef']);
    // Plain traffic to b's underlay and, via a route, to its overlay address.
    await lab.exec('attacker', ['ip', 'route', 'add', OVERLAY.cidr, 'via', UNDERLAY.b]);
    await expect(
      lab.exec('attacker', ['sh', '-c', `echo x | socat -t1 - TCP:${UNDERLAY.b}:8080,connect-timeout=1`]),
    ).rejects.toThrow();
    await expect(
      lab.exec('attacker', ['sh', '-c', `echo x | socat -t1 - TCP:${OVERLAY.b}:8080,connect-timeout=1`]),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 200));

    const sap1 = await counters(lab.sock('sap'));
    const b1 = await counters(lab.sock('b'));
    const d = (k: string, x: Record<string, number>, y: Record<string, number>) => (y[k] ?? 0) - (x[k] ?? 0);
    expect(d('badKey', sap0, sap1)).toBe(2);
    expect(d('unknownOverlay', sap0, sap1)).toBe(1);
    expect(d('malformed', sap0, sap1)).toBe(2);
    expect(d('unknownSender', sap0, sap1)).toBe(1);
    expect(d('allowed', sap0, sap1) + d('allowedCached', sap0, sap1)).toBe(0);
    expect(d('badKey', b0, b1)).toBe(1);
    expect(d('unknownOverlay', b0, b1)).toBe(1);
    expect(d('malformed', b0, b1)).toBe(1);
    expect(d('decap', b0, b1)).toBe(0);
    const guard = await lab.exec('b', ['nft', 'list', 'table', 'inet', 'ovguard']);
    const dropped = Number(/counter packets (\d+)/.exec(guard)?.[1]);
    expect(dropped).toBeGreaterThanOrEqual(4); // 2 GUE from the attacker + SYNs of two connection attempts
  });

  it('refuses stale and invalid pushes without disturbing the config in force', async () => {
    const stale = await api(lab.sock('a'), 'PUT', '/config', agentConfig(1, 'a'));
    expect(stale).toMatchObject({ status: 200, body: { version: 1, applied: false } });
    const bad = await api(lab.sock('a'), 'PUT', '/config', { ...agentConfig(2, 'a'), sendEpoch: 9 });
    expect(bad.status).toBe(400);
    const moved = await api(lab.sock('a'), 'PUT', '/config', {
      ...agentConfig(2, 'a'),
      overlayIp: '10.240.1.50',
    });
    expect(moved.status).toBe(409);
    const mtu = await api(lab.sock('a'), 'PUT', '/config', agentConfig(2, 'a', 1400));
    expect(mtu).toMatchObject({ status: 200, body: { version: 2, applied: true } });
    expect(await lab.exec('a', ['ip', 'link', 'show', 'ov0'])).toContain('mtu 1400');
    const tcp = await lab.exec('a', [
      'sh',
      '-c',
      `echo still | socat -t2 - TCP:${OVERLAY.b}:8080,connect-timeout=3`,
    ]);
    expect(tcp.trim()).toBe('still');
  });

  it('exits cleanly on SIGTERM: TUN, guard and socket gone', async () => {
    const pid = Number((await api(lab.sock('a'), 'GET', '/status')).body.pid);
    process.kill(pid, 'SIGTERM');
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(() => process.kill(pid, 0)).toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(lab.exec('a', ['ip', 'link', 'show', 'ov0'])).rejects.toThrow();
    expect(await lab.exec('a', ['nft', 'list', 'tables'])).not.toContain('ovguard');
    expect(existsSync(lab.sock('a'))).toBe(false);
    // With a's agent gone, b is unreachable from a (fails closed, no fallback to the underlay).
    await expect(
      lab.exec('a', ['sh', '-c', `echo x | socat -t1 - TCP:${OVERLAY.b}:8080,connect-timeout=1`]),
    ).rejects.toThrow();
    expect(echo?.exitCode).toBeNull();

    const sapPid = Number((await api(lab.sock('sap'), 'GET', '/status')).body.pid);
    process.kill(sapPid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    expect(() => process.kill(sapPid, 0)).toThrow();
    expect(existsSync(lab.sock('sap'))).toBe(false);

    // Deleting an agent's TUN under it makes the agent exit (for a supervisor to restart) instead of idling.
    const bPid = Number((await api(lab.sock('b'), 'GET', '/status')).body.pid);
    await lab.exec('b', ['ip', 'link', 'del', 'ov0']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(() => process.kill(bPid, 0)).toThrow();
    expect(await lab.exec('b', ['nft', 'list', 'tables'])).not.toContain('ovguard');
  });
});
