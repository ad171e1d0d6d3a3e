// The configuration the control plane pushes to an agent (PUT /config, see ../CONTRACT.md).
// Versioned: a push whose version is not greater than the one in force is acknowledged and ignored.
import { z } from 'zod';
import { AddrSchema, KeySchema } from '../sap/config.ts';

export const AgentConfigSchema = z.object({
  version: z.number().int().min(1),
  overlayId: z.number().int().min(0).max(0xffffffff),
  /** The pod's overlay address, put on the TUN. Fixed after the first config (a change is refused, 409). */
  overlayIp: z.ipv4(),
  /** The overlay prefix routed into the TUN, e.g. "10.240.0.0/16". */
  overlayCidr: z.cidrv4(),
  /** The pod's overlay IPv6 address (it has an IPv6 address) and the IPv6 overlay prefix; fixed like overlayIp. */
  overlayIp6: z.ipv6().optional(),
  overlayCidr6: z.cidrv6().optional(),
  keys: z.array(KeySchema).min(1),
  sendEpoch: z.number().int().min(0).max(255),
  /** `key` (the paper) or `mac` (per-packet HMAC + replay window); must match the SaPs'. */
  authMode: z.enum(['key', 'mac']).default('key'),
  /** The agent's own GUE socket: the pod's underlay address. Fixed after the first config. */
  listen: AddrSchema,
  /** The SaP this agent encapsulates to. */
  sap: AddrSchema,
  /** SaP addresses accepted as GUE senders (decap check and pod guard); `sap` is always included. */
  acceptFrom: z.array(AddrSchema).default([]),
  /** TUN MTU; default underlay MTU 1500 minus the GUE overhead (README.md, "MTU"). */
  mtu: z.number().int().min(576).max(65535).optional(),
  /** Install the pod-local nftables guard (default deny on the underlay interface). */
  guard: z.boolean().default(true),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

export const AGENT_COUNTERS = [
  'tunRx', // packets read from the TUN
  'encap', // sent to the SaP
  'rx', // GUE datagrams received
  'decap', // written to the TUN
  'badKey',
  'badEpoch',
  'unknownOverlay',
  'malformed',
  'unknownSender', // underlay source is not an accepted SaP
  'notForMe', // inner destination is not this pod's overlay address
  'replay', // mode mac: sequence number already seen from this SaP
  'tunNotIp', // TUN packet that is neither IPv4 nor (with overlayIp6) IPv6
  'txError',
] as const;
export type AgentCounter = (typeof AGENT_COUNTERS)[number];

export function parseAgentConfig(input: unknown): AgentConfig {
  const cfg = AgentConfigSchema.parse(input);
  if (!cfg.keys.some((k) => k.epoch === cfg.sendEpoch)) throw new Error('sendEpoch is not among keys');
  return cfg;
}
