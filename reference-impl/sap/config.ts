// The configuration the control plane pushes to a Stand-alone Proxy (PUT /config, see ../CONTRACT.md).
// The control plane resolves selectors, namespaces, named ports and ipBlocks; the SaP only looks things up.
// Versioned: a push whose version is not greater than the one in force is acknowledged and ignored.
import { z } from 'zod';

/** Default UDP port of GUE (IANA "gue", 6080). */
export const GUE_PORT = 6080;

const u32 = z.number().int().min(0).max(0xffffffff);
const port = z.number().int().min(0).max(65535);
const ipv4 = z.ipv4();
/** Underlay addresses: IPv4, or IPv6 for an IPv6 underlay (outer IPv6/UDP). */
const underlayIp = z.union([z.ipv4(), z.ipv6()]);
const cidr4 = z.union([z.cidrv4(), z.ipv4()]);

/** A per-overlay authorization key. Keys are 16..64 bytes, hex encoded. */
export const KeySchema = z.object({
  /** 0..255, carried in every GUE header so receivers pick the key without trial. */
  epoch: z.number().int().min(0).max(255),
  key: z.string().regex(/^([0-9a-fA-F]{2}){16,64}$/, 'hex, 16..64 bytes'),
});
export type KeyEntry = z.infer<typeof KeySchema>;

/** Where a process receives GUE: an underlay address and UDP port. */
export const AddrSchema = z.object({
  ip: underlayIp,
  port: z.number().int().min(1).max(65535).default(GUE_PORT),
});
export type Addr = z.infer<typeof AddrSchema>;

/** A peer of a NetworkPolicy rule: an overlay address or CIDR, minus `except` CIDRs (ipBlock semantics). */
export const PeerSchema = z.object({ cidr: cidr4, except: z.array(cidr4).optional() });
export type Peer = z.infer<typeof PeerSchema>;

/** A port range of one protocol; a single port has portFrom == portTo; all ports of a protocol is 0..65535. */
export const PortRangeSchema = z
  .object({ protocol: z.enum(['TCP', 'UDP', 'SCTP']), portFrom: port, portTo: port })
  .refine((p) => p.portFrom <= p.portTo, 'portFrom > portTo');
export type PortRange = z.infer<typeof PortRangeSchema>;

/**
 * One allow entry, i.e. one (peer list × port list) product of a NetworkPolicy rule.
 * `peers` absent = any peer; `ports` absent or empty = every protocol and port (including ICMP).
 */
export const AllowEntrySchema = z.object({
  peers: z.array(PeerSchema).optional(),
  ports: z.array(PortRangeSchema).optional(),
});
export type AllowEntry = z.infer<typeof AllowEntrySchema>;

/** An endpoint of the overlay (a pod, or an unmanaged host running only an agent). */
export const EndpointSchema = z.object({
  overlayIp: ipv4,
  /** Id of the SaP this endpoint's agent sends to (its node's SaP, or the gateway for unmanaged hosts). */
  sap: z.string().min(1),
  /** The agent's GUE address; required when `sap` is this SaP (local endpoint), ignored otherwise. */
  agent: AddrSchema.optional(),
  /** Default deny applies in a direction only when the endpoint is isolated in it (a policy selects it). */
  isolatedIngress: z.boolean().default(false),
  isolatedEgress: z.boolean().default(false),
  /** Union of the ingress rules of all policies selecting this endpoint (peers = sources). */
  ingress: z.array(AllowEntrySchema).default([]),
  /** Union of the egress rules of all policies selecting this endpoint (peers = destinations). */
  egress: z.array(AllowEntrySchema).default([]),
  /**
   * Families the endpoint has. Over IPv6 it is addressed as its overlay IPv6 address (the overlayIp embedded in
   * the overlay /96, control-plane/addressing6.ts); peers in `ingress6`/`egress6` are identities as well
   * (overlay IPv4 /32), but these lists hold the rules as NetworkPolicy reads them for IPv6 connections.
   */
  ipv4: z.boolean().default(true),
  ipv6: z.boolean().default(false),
  ingress6: z.array(AllowEntrySchema).default([]),
  egress6: z.array(AllowEntrySchema).default([]),
  /** Free-form name for counters and logs, e.g. "ns/pod". */
  name: z.string().optional(),
});
export type Endpoint = z.infer<typeof EndpointSchema>;

export const SapPeerSchema = z.object({
  id: z.string().min(1),
  addr: AddrSchema,
  /** The peer's second underlay address (dual-stack underlay); accepted as a sender too. */
  addr6: AddrSchema.optional(),
});
export type SapPeer = z.infer<typeof SapPeerSchema>;

export const SapConfigSchema = z.object({
  version: z.number().int().min(1),
  /** This SaP's id (endpoints with `sap == sapId` are local: their policy is enforced here). */
  sapId: z.string().min(1),
  overlayId: u32,
  /** Accepted keys (during rotation: old and new epoch). */
  keys: z.array(KeySchema).min(1),
  /** `key` (the paper: the key itself in every packet) or `mac` (per-packet HMAC + replay window). */
  authMode: z.enum(['key', 'mac']).default('key'),
  /** Epoch this SaP writes into packets it forwards; must be among `keys`. */
  sendEpoch: z.number().int().min(0).max(255),
  listen: AddrSchema,
  /** A second socket on the other family's underlay (a dual-stack cluster's SaP serving IPv6-only agents). */
  listen6: AddrSchema.optional(),
  /** The overlay IPv6 /96 whose last 32 bits are endpoint identities. */
  overlayCidr6: z.string().default('fd64:ffff::/96'),
  /** Every endpoint this SaP may see as source or destination. Unknown destinations are dropped (no-route). */
  endpoints: z.array(EndpointSchema),
  /** Other SaPs: accepted as senders, and next hops for endpoints that are not local. */
  saps: z.array(SapPeerSchema).default([]),
  /**
   * Next hop per destination SaP id when it is not reached directly (cross-cluster: via the gateway SaPs).
   * Without an entry, packets for endpoints of SaP X go to X itself.
   */
  routes: z.array(z.object({ sap: z.string().min(1), via: z.string().min(1) })).default([]),
  /** Flow cache idle timeout in ms (replies of allowed flows pass while the flow is cached). */
  flowIdleMs: z.number().int().min(100).default(120_000),
});
export type SapConfig = z.infer<typeof SapConfigSchema>;
/** What the control plane sends (defaults may be omitted). */
export type SapConfigInput = z.input<typeof SapConfigSchema>;

/** Counter names of a SaP, as returned by GET /status (`counters`). Unknown names may be added later. */
export const SAP_COUNTERS = [
  'rx', // GUE datagrams received
  'allowed', // forwarded after a policy decision (first packet of a flow or uncached)
  'allowedCached', // forwarded by a flow-cache hit (includes replies)
  'deniedPolicy',
  'badKey',
  'badEpoch',
  'unknownOverlay',
  'malformed',
  'unknownSender', // underlay source is neither a local agent nor a known SaP
  'spoofedSource', // inner source does not belong to the sending agent
  'noRoute',
  'replay', // mode mac: sequence number already seen (or older than the window) from this sender
  'txError',
] as const;
export type SapCounter = (typeof SAP_COUNTERS)[number];

/** Throws a zod error on invalid input; the API turns it into 400. */
export function parseSapConfig(input: unknown): SapConfig {
  const cfg = SapConfigSchema.parse(input);
  if (!cfg.keys.some((k) => k.epoch === cfg.sendEpoch)) throw new Error('sendEpoch is not among keys');
  for (const e of cfg.endpoints) {
    if (e.sap === cfg.sapId && !e.agent)
      throw new Error(`endpoint ${e.overlayIp}: local endpoint without agent`);
  }
  return cfg;
}
