// One small interface per platform (DESIGN.md). A platform brings up a scenario's Kubernetes-shaped topology
// and lets the harness run programs inside its hosts; it knows nothing about policy.
import type { ChildProcess } from 'node:child_process';
import { familyOf } from '../policy/family.ts';
import type { IPFamily, Pod, Protocol } from '../policy/model.ts';
import type { Topology } from '../scenario/types.ts';

/**
 * Host names: a pod is `ns/pod`, a node `node:NAME`, an external host `ext:NAME`, the inter-cluster router
 * `router`. The same strings are the engine's endpoint references.
 */
export type HostName = string;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed because opts.timeoutMs passed (code is then 124). */
  timedOut?: boolean;
}

export interface ExecOptions {
  /** Kill the program (SIGKILL) after this many milliseconds; the result then has code 124. */
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
}

/** One reachability cell as a platform that probes by its own means sees it (traffic/reachability.ts). */
export interface PlatformProbe {
  from: HostName;
  to: HostName;
  address: string;
  port: number;
  protocol: Protocol;
}

export interface PlatformProbeAnswer {
  /** `error`: the probe could not run (exec failed, image missing); never a pass or a deny. */
  outcome: 'reached' | 'blocked' | 'wrong-peer' | 'unsupported' | 'error';
  detail: string;
  us: number;
}

/** Ports a pod serves (its declared ports plus those the scenario probes), for platforms that build servers into pods. */
export interface ServedPorts {
  tcp: number[];
  udp: number[];
}

export interface Network {
  /** The per-run prefix carried by every namespace, link and process this run made. */
  readonly prefix: string;
  readonly topology: Topology;
  hosts(): HostName[];
  /** PID of a process living in the host's network namespace (enter it with nsenter --net=/proc/PID/ns/net). */
  pid(host: HostName): number;
  /** The host's primary address (pod IP, node underlay IP, external IP). */
  address(host: HostName): string;
  /** Every address of the host, one per family, primary first (absent: `[address(host)]`). */
  addresses?(host: HostName): string[];
  exec(host: HostName, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running program in the host; the network ends it (by PID) on down(). */
  spawn(host: HostName, argv: string[], opts?: { env?: Record<string, string> }): ChildProcess;
  addPod(pod: Pod): Promise<void>;
  removePod(ref: HostName): Promise<void>;
  /** Removes exactly what up() made. Safe to call twice. */
  down(): Promise<void>;
  /**
   * Set by platforms whose pods carry their own probe servers and probe from inside the pod (Kubernetes:
   * agnhost containers, `agnhost connect` by exec). The harness then starts no probe-server processes and
   * hands every reachability cell to this method.
   */
  probe?(targets: PlatformProbe[], opts: { timeoutMs: number }): Promise<PlatformProbeAnswer[]>;
}

export interface PlatformEnvironment {
  platform: string;
  cni: string;
  cniVersion: string;
  /** Whether the CNI enforces the NetworkPolicies posted in mode native (overlay switches it off; see steps). */
  cniEnforced: boolean | null;
  serverVersion: string | null;
  kindVersion: string | null;
}

export interface Platform {
  readonly name: 'mininet' | 'kind' | 'kubernetes';
  /** Throws UsageError with a one-line install hint when a prerequisite (root, mininet, nft, …) is missing. */
  checkPrerequisites(): Promise<void>;
  /** What the run's environment record says about the platform beyond the machine (Kubernetes: the CNI). */
  environment?(): PlatformEnvironment;
  /** `serve`: what each pod must serve, for platforms that build servers into pods at creation (Kubernetes). */
  up(
    topology: Topology,
    pods: Pod[],
    opts?: { prefix?: string; serve?: (pod: Pod) => ServedPorts },
  ): Promise<Network>;
}

/** The host's address of one family (undefined: its primary address), or an error naming what it lacks. */
export function familyAddress(
  net: Pick<Network, 'address' | 'addresses'>,
  host: HostName,
  family?: IPFamily,
): string {
  if (family === undefined) return net.address(host);
  const all = net.addresses ? net.addresses(host) : [net.address(host)];
  const a = all.find((x) => familyOf(x) === family);
  if (a === undefined) throw new Error(`host ${host} has no ${family} address (it has ${all.join(', ')})`);
  return a;
}
