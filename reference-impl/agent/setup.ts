// Interface set-up of the agent's TUN and the MTU arithmetic. Pure.
import { headerLength } from '../gue/codec.ts';

/** Bytes GUE-over-UDP-over-IPv4 adds to an inner packet for a key of `keyLen` bytes. */
export function overhead(keyLen: number): number {
  return 20 + 8 + headerLength(keyLen);
}

/** TUN MTU so that encapsulated packets fit an underlay MTU without fragmentation. */
export function defaultMtu(keyLen: number, underlayMtu = 1500): number {
  return underlayMtu - overhead(keyLen);
}

/** `ip` invocations that give the TUN the overlay address, MTU, and the overlay prefix route. */
export function ipArgs(
  tun: string,
  overlayIp: string,
  overlayCidr: string,
  mtu: number,
  offload = false,
): string[][] {
  const prefix = overlayCidr.split('/')[1]!;
  return [
    // A super-packet plus GUE (≤ 128) and UDP headers must stay within one UDP datagram (65,507 bytes).
    ...(offload ? [['link', 'set', 'dev', tun, 'gso_max_size', '65000']] : []),
    ['addr', 'add', `${overlayIp}/${prefix}`, 'dev', tun],
    // No IPv6 link-local on the TUN: router solicitations would only be dropped as non-IPv4.
    ['link', 'set', 'dev', tun, 'addrgenmode', 'none'],
    ['link', 'set', 'dev', tun, 'mtu', String(mtu), 'up'],
  ];
}
