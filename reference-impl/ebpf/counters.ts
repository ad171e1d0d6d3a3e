// Counter ids of the BPF programs (the C enum in common.h, same order; a unit test compares the two) and their
// translation into the /status counter names of the user-space SaP and agent (../CONTRACT.md).
import { DROP_NAMES } from '../gue/codec.ts';

const BASE = [
  'rx',
  'allowed',
  'allowedCached',
  'deniedPolicy',
  'badKey',
  'badEpoch',
  'unknownOverlay',
  'malformed',
  'unknownSender',
  'spoofedSource',
  'noRoute',
  'txError',
  'encap',
  'decap',
  'notForMe',
  'plainToOverlay', // agent: a non-GUE packet to the pod's overlay address (pod-local default deny)
  'allowedFragment',
  'fragmentDropped',
  'rekeyLength', // SaP: the send key has another length than the packet's (the eBPF path re-keys in place only)
  'unknownMode',
  'guardDropped', // agent: plain traffic to the pod that is no reply of its own connections (the pod guard)
] as const;

/** Counter names by id: the base counters, then malformed:<codec reason> for codec codes 1..11, then the rest. */
export const COUNTER_NAMES: readonly string[] = [
  ...BASE,
  ...DROP_NAMES.slice(1, 12).map((n) => `malformed:${n}`),
  'malformed:innerIpv6',
  'malformed:innerIpv4',
  'malformed:outerFragment',
];

/** Per-CPU values (by counter id) summed and named; zero sub-reasons are left out as in user space. */
export function nameCounters(perId: readonly number[], base: readonly string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(base.map((n) => [n, 0]));
  perId.forEach((v, i) => {
    const name = COUNTER_NAMES[i];
    if (name === undefined) return;
    if (v > 0 || name in out) out[name] = v;
  });
  return out;
}
