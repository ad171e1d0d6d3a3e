// Agent process, run inside the pod's namespace: `tsx reference-impl/agent/main.ts --api SOCK [--tun ov0]`.
// TUN packets → GUE → the pod's SaP; GUE from accepted SaPs → authorized → TUN. See ../CONTRACT.md.
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import {
  AUTH_KEY,
  AUTH_MAC,
  DROP,
  DROP_NAMES,
  GueHeader,
  Keyring,
  MAX_HEADER_LEN,
  PROTO_IPV4,
  PROTO_IPV6,
  decode,
  encodeHeader,
  encodeMacHeader,
  headerLength,
  verify,
} from '../gue/codec.ts';
import { MAC_AUTH_LEN, ReplayWindow, SeqCounter, readSeq, sealMac } from '../gue/mac.ts';
import { Tun, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_HDR_LEN } from '../native/tun.ts';
import { ConflictError, literalLookup, parseArgs, serveApi, tcpAddress } from '../sap/api.ts';
import { ipToU32 } from '../sap/packet.ts';
import { AGENT_COUNTERS, type AgentConfig, parseAgentConfig } from './config.ts';
import { GUARD_TABLE, installGuard, removeGuard } from './guard.ts';
import { defaultMtu, ipArgs } from './setup.ts';

const args = parseArgs(process.argv.slice(2), ['api', 'tun', 'offload', 'lifeline', 'allow-from']);
// Kubernetes: the node's address (kubelet probes), admitted by the guard; comma-separated IPv4 literals.
const allowFrom = (args['allow-from'] ?? '').split(',').filter(Boolean);
if (!args.api) {
  process.stderr.write('usage: agent/main.ts --api SOCKET [--tun NAME]\n');
  process.exit(2);
}
const tunName = args.tun ?? 'ov0';
// TSO through the TUN: one GUE datagram per TCP super-packet (IP-fragmented on the underlay when larger).
const offload = (args.offload ?? 'on') !== 'off';
const VH = offload ? VNET_HDR_LEN : 0;
let tunMtu = 0;

const c: Record<string, number> = Object.fromEntries(AGENT_COUNTERS.map((n) => [n, 0]));
let cfg: AgentConfig | undefined;
let tun: Tun | undefined;
let sock: dgram.Socket | undefined;
let ring: Keyring | undefined;
/** Header bytes for the current send key, copied in front of every TUN packet. */
let template = Buffer.alloc(0);
/** The same header with Proto 41, for inner IPv6 (empty when the pod has no overlay IPv6 address). */
let template6 = Buffer.alloc(0);
/** Mode `mac`: the send key (header sealed per packet); undefined in mode `key`. */
let macKey: Buffer | undefined;
const seq = new SeqCounter();
const windows = new Map<string, ReplayWindow>();
let sapIp = '';
let sapPort = 0;
let myIp = 0;
/** The pod's overlay IPv6 address, 16 bytes (empty: no IPv6). */
let myIp6 = Buffer.alloc(0);
const accept = new Map<string, number>();
const h = new GueHeader();

function onTunBatch(t: Tun, first: number, n: number): void {
  const s = sock;
  if (!s) return;
  const arena = t.arena;
  for (let i = 0; i < n; i++) {
    const slot = (first + i) % t.slots;
    const off = t.packetOffset(slot) + VH;
    const len = t.lens[slot]! - VH;
    c.tunRx!++;
    const ver = len >= 20 ? arena[off]! >> 4 : 0;
    const tpl = ver === 4 ? template : ver === 6 && len >= 40 ? template6 : undefined;
    if (!tpl || tpl.length === 0) {
      c.tunNotIp!++;
      continue;
    }
    const hl = tpl.length;
    tpl.copy(arena, off - hl);
    if (macKey) sealMac(arena, off - hl, hl, len, macKey, seq.next());
    c.encap!++;
    // A send that could not go out at once is queued by libuv with a pointer into the arena, whose slots the
    // addon reuses; while anything is queued, send copies instead.
    try {
      if (s.getSendQueueCount() === 0) s.send(arena, off - hl, len + hl, sapPort, sapIp);
      else s.send(Buffer.from(arena.subarray(off - hl, off + len)), sapPort, sapIp);
    } catch {
      c.txError!++;
    }
  }
}

function onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
  c.rx!++;
  if (accept.get(rinfo.address) !== rinfo.port) {
    c.unknownSender!++;
    return;
  }
  let code = decode(msg, 0, msg.length, h);
  if (code !== DROP.ok) {
    c.malformed!++;
    const k = `malformed:${DROP_NAMES[code]}`;
    c[k] = (c[k] ?? 0) + 1;
    return;
  }
  code = verify(msg, h, ring!);
  if (code !== DROP.ok) {
    const k = DROP_NAMES[code]!;
    c[k] = (c[k] ?? 0) + 1;
    return;
  }
  if (h.mode === AUTH_MAC) {
    let w = windows.get(rinfo.address);
    if (!w) windows.set(rinfo.address, (w = new ReplayWindow()));
    if (!w.accept(readSeq(msg, 0))) {
      c.replay!++;
      return;
    }
  }
  const forMe =
    h.proto === PROTO_IPV4
      ? h.innerLen >= 20 && msg.readUInt32BE(h.innerOff + 16) === myIp
      : h.proto === PROTO_IPV6 &&
        myIp6.length === 16 &&
        h.innerLen >= 40 &&
        msg.compare(myIp6, 0, 16, h.innerOff + 24, h.innerOff + 40) === 0;
  if (!forMe) {
    c.notForMe!++;
    return;
  }
  try {
    if (offload) {
      if (h.proto === PROTO_IPV4) writeVnetHdr(msg, h.innerOff, h.innerLen);
      else writeVnetHdr6(msg, h.innerOff, h.innerLen);
    }
    if (tun!.write(msg, h.innerOff - VH, h.innerLen + VH) < 0) c.txError!++;
    else c.decap!++;
  } catch {
    c.internalError = (c.internalError ?? 0) + 1;
  }
}

/**
 * The virtio-net header for an inner packet, written over the (already verified) end of the GUE header.
 * TCP and UDP are marked checksum-partial: their checksums may be partial when the sender used offload, and
 * the outer UDP checksum already protected the bytes. TCP packets above the MTU are TSO super-packets.
 */
function writeVnetHdr(buf: Buffer, off: number, len: number): void {
  const v = off - VNET_HDR_LEN;
  buf.fill(0, v, off);
  const ihl = (buf[off]! & 0x0f) * 4;
  const proto = buf[off + 9]!;
  if (proto === 6 && len >= ihl + 20) {
    buf[v] = VNET_F_NEEDS_CSUM;
    buf.writeUInt16LE(ihl, v + 6);
    buf.writeUInt16LE(16, v + 8);
    if (len > tunMtu) {
      const thl = (buf[off + ihl + 12]! >> 4) * 4;
      buf[v + 1] = VNET_GSO_TCPV4;
      buf.writeUInt16LE(ihl + thl, v + 2);
      buf.writeUInt16LE(tunMtu - ihl - thl, v + 4);
    }
  } else if (proto === 17 && len >= ihl + 8) {
    buf[v] = VNET_F_NEEDS_CSUM;
    buf.writeUInt16LE(ihl, v + 6);
    buf.writeUInt16LE(6, v + 8);
  }
}

/**
 * The virtio-net header for an inner IPv6 packet: TCP/UDP straight after the fixed header are marked
 * checksum-partial (the TUN offers no TSO6, so no IPv6 super-packets arrive); with extension headers in front
 * of the transport header the packet goes up as is (the kernel verifies the checksum itself).
 */
function writeVnetHdr6(buf: Buffer, off: number, len: number): void {
  const v = off - VNET_HDR_LEN;
  buf.fill(0, v, off);
  const next = buf[off + 6]!;
  if (next === 6 && len >= 60) {
    buf[v] = VNET_F_NEEDS_CSUM;
    buf.writeUInt16LE(40, v + 6);
    buf.writeUInt16LE(16, v + 8);
  } else if (next === 17 && len >= 48) {
    buf[v] = VNET_F_NEEDS_CSUM;
    buf.writeUInt16LE(40, v + 6);
    buf.writeUInt16LE(6, v + 8);
  }
}

async function apply(body: unknown): Promise<void> {
  const next = parseAgentConfig(body);
  const authLen =
    next.authMode === 'mac'
      ? MAC_AUTH_LEN
      : next.keys.find((k) => k.epoch === next.sendEpoch)!.key.length / 2;
  const mtu = next.mtu ?? defaultMtu(authLen, 1500, next.listen.ip.includes(':'));
  if (cfg) {
    if (
      next.overlayIp !== cfg.overlayIp ||
      next.overlayCidr !== cfg.overlayCidr ||
      next.overlayIp6 !== cfg.overlayIp6 ||
      next.overlayCidr6 !== cfg.overlayCidr6
    )
      throw new ConflictError('overlayIp/overlayCidr changed');
    if (next.listen.ip !== cfg.listen.ip || next.listen.port !== cfg.listen.port)
      throw new ConflictError('listen changed');
    if (mtu + MAX_HEADER_LEN > tun!.slotSize) throw new ConflictError('mtu grew beyond the TUN buffers');
  }
  const mac = next.authMode === 'mac';
  const nextRing = Keyring.fromHex(next.overlayId, next.keys, mac ? AUTH_MAC : AUTH_KEY);
  const key = nextRing.get(next.sendEpoch)!;
  const tpl = Buffer.alloc(headerLength(mac ? MAC_AUTH_LEN : key.length));
  if (mac) encodeMacHeader(tpl, 0, PROTO_IPV4, next.overlayId, next.sendEpoch);
  else encodeHeader(tpl, 0, PROTO_IPV4, next.overlayId, next.sendEpoch, key);
  // Identical but for the Proto byte (mode mac seals per packet, over the header as sent).
  const tpl6 = next.overlayIp6 ? Buffer.from(tpl) : Buffer.alloc(0);
  if (tpl6.length) tpl6[1] = PROTO_IPV6;
  const saps = [next.sap, ...next.acceptFrom];

  if (!tun) {
    const t = offload
      ? new Tun({ name: tunName, mtu: 65536 + VNET_HDR_LEN, headroom: MAX_HEADER_LEN, slots: 64, offload })
      : new Tun({ name: tunName, mtu: Math.max(mtu, 1500), headroom: MAX_HEADER_LEN });
    try {
      const v6 =
        next.overlayIp6 && next.overlayCidr6 ? { ip: next.overlayIp6, cidr: next.overlayCidr6 } : undefined;
      for (const a of ipArgs(t.name, next.overlayIp, next.overlayCidr, mtu, offload, v6))
        execFileSync('ip', a);
      sock = await bindSocket(next.listen.ip, next.listen.port);
    } catch (e) {
      // A failed first config leaves nothing half set up: the next push starts from scratch.
      t.close();
      throw e;
    }
    tun = t;
    sock.on('message', onMessage);
  } else if (mtu !== tunMtu) {
    execFileSync('ip', ['link', 'set', 'dev', tun.name, 'mtu', String(mtu)]);
  }
  if (next.guard)
    await installGuard({
      tun: tun.name,
      agentPort: next.listen.port,
      saps,
      apiPort: tcpAddress(args.api!)?.port,
      allowFrom,
    });
  else await removeGuard();

  // Switch state only once everything above succeeded, so a failed push leaves the old config in force.
  ring = nextRing;
  template = tpl;
  template6 = tpl6;
  myIp6 = next.overlayIp6 ? Buffer.from(ipaddr.parse(next.overlayIp6).toByteArray()) : Buffer.alloc(0);
  macKey = mac ? key : undefined;
  sapIp = next.sap.ip;
  sapPort = next.sap.port;
  myIp = ipToU32(next.overlayIp);
  tunMtu = mtu;
  accept.clear();
  // Keyed as Node reports senders (canonical text), so an IPv6 SaP written another way still matches.
  for (const s of saps) accept.set(ipaddr.parse(s.ip).toString(), s.port);
  const firstStart = !cfg;
  cfg = next;
  if (firstStart) {
    tun.start(onTunBatch, (errno) => {
      // The TUN is gone or broken: without it the pod has no overlay; exit so a supervisor restarts us.
      process.stderr.write(`agent: TUN ${tunName} failed (errno ${errno}), exiting\n`);
      shutdown(1);
    });
  }
}

function bindSocket(ip: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({
    type: ip.includes(':') ? 'udp6' : 'udp4',
    // IPv6 sockets stay IPv6 only (an IPv4 socket takes no such option: EINVAL on bind).
    ...(ip.includes(':') ? { ipv6Only: true } : {}),
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
    lookup: literalLookup,
  });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, ip, () => {
      s.off('error', reject);
      s.on('error', () => c.txError!++);
      resolve(s);
    });
  });
}

const server = await serveApi(args.api, {
  version: () => cfg?.version ?? 0,
  counters: () => ({ ...c }),
  apply,
});

function shutdown(code = 0): void {
  try {
    if (cfg?.guard) execFileSync('nft', ['delete', 'table', 'inet', GUARD_TABLE], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  tun?.close();
  sock?.close();
  server.close();
  server.closeAllConnections();
  rmSync(args.api!, { force: true });
  process.exit(code);
}
process.on('SIGTERM', () => shutdown());
process.on('SIGINT', () => shutdown());
// --lifeline stdin: exit when the parent's pipe closes, so a crashed parent leaves no data path behind.
if (args.lifeline === 'stdin') {
  process.stdin.on('end', () => shutdown());
  process.stdin.on('error', () => shutdown());
  process.stdin.resume();
}
