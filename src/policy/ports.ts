// Policy ports: numeric, named (resolved against the destination pod), ranges, protocol-only.
import type { NetworkPolicyPort, Pod, Protocol } from './model.ts';

export interface PortRange {
  protocol: Protocol;
  from: number;
  to: number;
}

/**
 * The concrete range one policy port means for traffic to `dstPod`: protocol defaults to TCP; no port means
 * every port of that protocol; `endPort` is inclusive; a named port is looked up among the destination pod's
 * container ports by name and protocol, so it can mean different numbers on different pods, and means nothing
 * (null) on a pod without it or on a non-pod destination (`dstPod` undefined).
 */
export function resolvePort(
  rulePort: NetworkPolicyPort,
  dstPod: Pick<Pod, 'ports'> | undefined,
): PortRange | null {
  const protocol = rulePort.protocol ?? 'TCP';
  if (rulePort.port === undefined) return { protocol, from: 1, to: 65535 };
  if (typeof rulePort.port === 'number')
    return { protocol, from: rulePort.port, to: rulePort.endPort ?? rulePort.port };
  const cp = dstPod?.ports.find((p) => p.name === rulePort.port && p.protocol === protocol);
  return cp ? { protocol, from: cp.port, to: cp.port } : null;
}

/**
 * The number a flow's port means at its destination: a number stands; a name is resolved among the destination
 * pod's container ports of that protocol; undefined when it cannot be resolved.
 */
export function resolveFlowPort(
  port: number | string,
  protocol: Protocol,
  dstPod: Pick<Pod, 'ports'> | undefined,
): number | undefined {
  if (typeof port === 'number') return port;
  return dstPod?.ports.find((p) => p.name === port && p.protocol === protocol)?.port;
}

/**
 * Whether a rule's `ports` admit (protocol, port) at `dstPod`. Absent or empty `ports` admit everything. An
 * unresolvable flow port (undefined) is admitted only by entries that cover every port of the protocol.
 */
export function rulePortsMatch(
  ports: NetworkPolicyPort[] | undefined,
  protocol: Protocol,
  port: number | undefined,
  dstPod: Pick<Pod, 'ports'> | undefined,
): boolean {
  if (!ports || ports.length === 0) return true;
  for (const rp of ports) {
    const r = resolvePort(rp, dstPod);
    if (!r || r.protocol !== protocol) continue;
    if (port === undefined ? rp.port === undefined : port >= r.from && port <= r.to) return true;
  }
  return false;
}

export function describePorts(ports: NetworkPolicyPort[] | undefined): string {
  if (!ports || ports.length === 0) return 'all ports';
  return ports
    .map(
      (p) =>
        `${p.port === undefined ? '*' : p.port}${p.endPort !== undefined ? `-${p.endPort}` : ''}/${p.protocol ?? 'TCP'}`,
    )
    .join(',');
}
