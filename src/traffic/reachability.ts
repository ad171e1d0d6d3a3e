// Reachability probe: every (source, destination, port, protocol) cell tried with a real connection (TCP) or
// request/response (UDP). A cell counts as reached only when the server that answered is the expected one.
import { fileURLToPath } from 'node:url';
import type { HttpProbeSpec } from '../policy/authz/model.ts';
import type { Protocol } from '../policy/model.ts';
import type { HostName, Network } from '../platform/platform.ts';
import type { ProbeServers } from './servers.ts';

export const PROBE_CLIENT = fileURLToPath(new URL('./probe-client.mjs', import.meta.url));

export interface ProbeTarget {
  from: HostName;
  to: HostName;
  /** Address the source uses (the enforcer decides: platform or overlay address). */
  address: string;
  port: number;
  protocol: Protocol;
  /** An HTTP request on the connection instead of reading the server's banner. */
  http?: HttpProbeSpec;
}

/**
 * `blocked`: no connection to the destination (what an L3 drop looks like, with or without a sidecar in front of
 * the client: the client's sidecar resets the app's connection when its upstream connect fails).
 * `denied-l7`: a proxy answered instead of the app: HTTP 403/400 without the app's identity header, or a TCP
 * connection that was accepted and then closed without the app's banner (an L7 deny of a TCP connection).
 * `error`: the probe itself could not run (exec failed, image missing); shown as an error cell, never a verdict.
 */
export type ProbeOutcome = 'reached' | 'blocked' | 'denied-l7' | 'wrong-peer' | 'unsupported' | 'error';

export interface ProbeResult extends ProbeTarget {
  outcome: ProbeOutcome;
  /** Identity the server reported, or the error (timeout, ECONNREFUSED, …). */
  detail: string;
  us: number;
}

export interface ReachabilityOptions {
  timeoutMs?: number;
  udpTries?: number;
  /** Connections in flight per source process. */
  concurrency?: number;
  /** Source processes running at once. */
  sources?: number;
  unsupported?: Protocol[];
}

interface ClientResult {
  key: number;
  ok: boolean;
  identity?: string;
  error?: string;
  /** HTTP probes: the response status and the first bytes of its body. */
  status?: number;
  body?: string;
  us: number;
}

/** How a probe's raw answer reads (pure; see ProbeOutcome). */
export function classifyProbe(
  t: ProbeTarget,
  c: Omit<ClientResult, 'key' | 'us'>,
): { outcome: ProbeOutcome; detail: string } {
  if (c.ok)
    return { outcome: c.identity === t.to ? 'reached' : 'wrong-peer', detail: c.identity ?? '(no identity)' };
  if (c.status !== undefined) {
    const detail = `HTTP ${c.status}${c.body ? ` ${JSON.stringify(c.body.trim().slice(0, 40))}` : ''}`;
    return {
      outcome:
        c.identity === undefined && (c.status === 403 || c.status === 400) ? 'denied-l7' : 'wrong-peer',
      detail,
    };
  }
  if (c.error === 'closed') return { outcome: 'denied-l7', detail: 'closed after connect, no banner' };
  return { outcome: 'blocked', detail: c.error ?? 'error' };
}

/**
 * Probes through the source host's probe server when it has one (no process start-up), else with a one-shot
 * client process per source.
 */
export async function probeReachability(
  net: Network,
  targets: ProbeTarget[],
  opts: ReachabilityOptions = {},
  agents?: Pick<ProbeServers, 'agent'>,
): Promise<ProbeResult[]> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  if (net.probe) {
    // The platform probes from inside its pods by its own means (Kubernetes: exec of agnhost connect).
    const answers = await net.probe(targets, { timeoutMs });
    return targets.map((t, i) => ({ ...t, ...answers[i]! }));
  }
  const unsupported = new Set<Protocol>(opts.unsupported ?? ['SCTP']);
  const results: ProbeResult[] = new Array(targets.length);
  const bySource = new Map<HostName, number[]>();
  targets.forEach((t, i) => {
    if (unsupported.has(t.protocol)) {
      results[i] = {
        ...t,
        outcome: 'unsupported',
        detail: `${t.protocol} unsupported on this kernel`,
        us: 0,
      };
      return;
    }
    bySource.set(t.from, [...(bySource.get(t.from) ?? []), i]);
  });
  const sources = [...bySource];
  let next = 0;
  const worker = async () => {
    while (next < sources.length) {
      const [from, idx] = sources[next++]!;
      const req = {
        timeoutMs,
        udpTries: opts.udpTries ?? 3,
        concurrency: opts.concurrency ?? 64,
        targets: idx.map((i) => ({
          key: i,
          ip: targets[i]!.address,
          port: targets[i]!.port,
          protocol: targets[i]!.protocol,
          ...(targets[i]!.http ? { http: targets[i]!.http } : {}),
        })),
      };
      // Generous budget: every target could time out, `concurrency` at a time.
      const budget = 15_000 + Math.ceil(idx.length / req.concurrency) * timeoutMs * 2;
      let answers: ClientResult[];
      const agent = agents?.agent(from);
      if (agent) answers = await agent.probe<ClientResult>(req, budget);
      else {
        const r = await net.exec(from, [process.execPath, PROBE_CLIENT], {
          input: JSON.stringify(req),
          timeoutMs: budget,
        });
        if (r.code !== 0) throw new Error(`probe client on ${from} failed (${r.code}): ${r.stderr.trim()}`);
        answers = JSON.parse(r.stdout) as ClientResult[];
      }
      for (const c of answers) {
        const t = targets[c.key]!;
        results[c.key] = { ...t, ...classifyProbe(t, c), us: c.us };
      }
    }
  };
  // Agents cost no process start-up, so more sources can probe at once.
  await Promise.all(
    Array.from({ length: Math.min(opts.sources ?? (agents ? 16 : 4), sources.length) }, worker),
  );
  return results;
}
