// Interface set-up of the agent's TUN and the MTU arithmetic. Pure.
import { headerLength } from '../gue/codec.ts';

/** Bytes GUE-over-UDP-over-IPv4 (IPv6 underlay: outer IPv6, 40 bytes) adds to an inner packet for a key. */
export function overhead(keyLen: number, underlayV6 = false): number {
  return (underlayV6 ? 40 : 20) + 8 + headerLength(keyLen);
}

/** TUN MTU so that encapsulated packets fit an underlay MTU without fragmentation. */
export function defaultMtu(keyLen: number, underlayMtu = 1500, underlayV6 = false): number {
  return underlayMtu - overhead(keyLen, underlayV6);
}

/** `ip` invocations that give the TUN the overlay address, MTU, and the overlay prefix route. */
export function ipArgs(
  tun: string,
  overlayIp: string,
  overlayCidr: string,
  mtu: number,
  offload = false,
  v6?: { ip: string; cidr: string },
): string[][] {
  const prefix = overlayCidr.split('/')[1]!;
  return [
    // Static and without DAD, so it is usable at once; the /96 prefix route sends the IPv6 overlay into the TUN.
    ...(v6 ? [['-6', 'addr', 'add', `${v6.ip}/${v6.cidr.split('/')[1]}`, 'dev', tun, 'nodad']] : []),
    // A super-packet plus GUE (≤ 128) and UDP headers must stay within one UDP datagram (65,507 bytes).
    ...(offload ? [['link', 'set', 'dev', tun, 'gso_max_size', '65000']] : []),
    ['addr', 'add', `${overlayIp}/${prefix}`, 'dev', tun],
    // No IPv6 link-local on the TUN: router solicitations would only be dropped as non-IPv4.
    ['link', 'set', 'dev', tun, 'addrgenmode', 'none'],
    ['link', 'set', 'dev', tun, 'mtu', String(mtu), 'up'],
  ];
}
