// One small interface per enforcement mode (DESIGN.md). An enforcer turns cluster state into whatever its
// data path needs (nothing, nftables rulesets, overlay config) on a Network the platform brought up.
import type { ClusterState, EndpointRef, Flow, IPFamily } from '../policy/model.ts';
import type { Network } from '../platform/platform.ts';
import type { Action } from '../scenario/types.ts';
import type { Mode } from '../scenario/schema.ts';

export interface ApplyReport {
  /** Wall time from the start of apply/update until the new state was in force everywhere, in ms. */
  programmingMs: number;
  /** Optional per-stage figures, e.g. compile vs apply, or config version numbers. */
  detail?: Record<string, number | string>;
}

export interface Enforcer {
  readonly mode: Mode;
  apply(state: ClusterState): Promise<ApplyReport>;
  update(state: ClusterState, change: Action[]): Promise<ApplyReport>;
  /**
   * The address a probe from `from` uses to reach `to` under this mode (the overlay uses overlay addresses;
   * other modes use the platform address), over `family` (absent: the primary address).
   */
  targetAddress(from: EndpointRef, to: EndpointRef, family?: IPFamily): string;
  /** Protocols whose probes this mode cannot carry here (reported as unsupported, never as pass). */
  unsupportedProtocols(): string[];
  /**
   * Why this mode cannot reproduce NetworkPolicy's verdict for a flow (e.g. the overlay: nodes run no agent),
   * or undefined. A mismatching cell with a reason is reported as inexpressible, naming the reason.
   */
  inexpressible?(state: ClusterState, flow: Flow): string | undefined;
  teardown(): Promise<void>;
}

/** What an enforcer may need to know beyond the cluster state: how the scenario uses ports. */
export interface EnforcerOptions {
  /** TCP ports the scenario's probes and measurements speak HTTP on (the mesh authorizes them per request). */
  httpPorts?: number[];
}

export type EnforcerFactory = (net: Network, opts?: EnforcerOptions) => Enforcer;
