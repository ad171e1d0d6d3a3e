// Pure planning for the Mininet driver: checks what this kernel can emulate before anything is built and turns
// the resolved topology + pods into the driver's build request. No I/O, so it is unit-tested without root.
import { randomBytes } from 'node:crypto';
import { UsageError } from '../../errors.ts';
import type { Pod } from '../../policy/model.ts';
import type { Topology } from '../../scenario/types.ts';

/** Every name a run creates starts with `tb` + 4 hex digits; `cleanup` only ever touches names of this shape. */
export const PREFIX_PATTERN = /^tb[0-9a-f]{4}/;

export function newPrefix(): string {
  return `tb${randomBytes(2).toString('hex')}`;
}

export function isPrefix(s: string): boolean {
  return /^tb[0-9a-f]{4}$/.test(s);
}

/**
 * Delay and loss need the netem qdisc, which this kernel lacks; Mininet would print a warning and run without
 * them, so the scenario is refused before anything is built.
 */
export function checkLinkSupport(links: Topology['links']): void {
  const wanted: string[] = [];
  if (links.delayMs) wanted.push(`delayMs: ${links.delayMs}`);
  if (links.lossPercent) wanted.push(`lossPercent: ${links.lossPercent}`);
  if (wanted.length)
    throw new UsageError(
      `topology.links asks for ${wanted.join(' and ')}, which needs the netem qdisc (sch_netem), absent from this kernel; remove it or run on a kernel with netem`,
    );
}

export interface DriverPod {
  /** `ns/pod`, the testbed host name. */
  name: string;
  node: string;
  ip: string;
  /** Dual-stack: every address, primary first. */
  ips?: string[];
}

export function driverPod(p: Pod): DriverPod {
  return {
    name: `${p.namespace}/${p.name}`,
    node: p.node,
    ip: p.ip,
    ...(p.ips && p.ips.length > 1 ? { ips: p.ips } : {}),
  };
}

export interface BuildRequest {
  op: 'build';
  prefix: string;
  topology: Topology;
  pods: DriverPod[];
}

export function buildRequest(prefix: string, topology: Topology, pods: Pod[]): BuildRequest {
  checkLinkSupport(topology.links);
  const nodes = new Set(topology.clusters.flatMap((c) => c.nodes.map((n) => n.name)));
  for (const p of pods)
    if (!nodes.has(p.node)) throw new Error(`pod ${p.namespace}/${p.name} is on unknown node '${p.node}'`);
  return { op: 'build', prefix, topology, pods: pods.map(driverPod) };
}

/** Every address of each testbed host, primary first (the router: every gateway, first cluster's first). */
export function hostAddressLists(topology: Topology, pods: Pod[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  m.set('router', [
    ...topology.clusters.flatMap((c) => c.gateways ?? [c.gateway]),
    ...(topology.externalGateways ?? [topology.externalGateway]),
  ]);
  for (const c of topology.clusters) for (const n of c.nodes) m.set(`node:${n.name}`, n.ips ?? [n.ip]);
  for (const e of topology.externals) m.set(`ext:${e.name}`, e.ips ?? [e.ip]);
  for (const p of pods) m.set(`${p.namespace}/${p.name}`, p.ips ?? [p.ip]);
  return m;
}

/** Primary address of each testbed host: pod IP, node underlay IP, external IP, router's first gateway. */
export function hostAddresses(topology: Topology, pods: Pod[]): Map<string, string> {
  const m = new Map<string, string>();
  m.set('router', topology.clusters[0]?.gateway ?? topology.externalGateway);
  for (const c of topology.clusters) for (const n of c.nodes) m.set(`node:${n.name}`, n.ip);
  for (const e of topology.externals) m.set(`ext:${e.name}`, e.ip);
  for (const p of pods) m.set(`${p.namespace}/${p.name}`, p.ip);
  return m;
}
