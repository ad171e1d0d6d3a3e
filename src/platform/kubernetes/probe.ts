// Reachability on Kubernetes, as the upstream netpol e2e suite and cyclonus probe: exec of
// `/agnhost connect IP:PORT --timeout=… --protocol=…` in the source pod, a new connection per probe (kindnet
// and other conntrack-based enforcers only judge new connections). A probe whose command could not run is an
// error cell with its reason, never a pass or a deny.
import type { PlatformProbe, PlatformProbeAnswer } from '../platform.ts';
import { ExecError, type ExecOutcome } from './exec-types.ts';

export const PROBE_PARALLEL = Number(process.env.TESTBED_K8S_PROBE_PARALLEL ?? 8);
/** On top of agnhost's own connect timeout: exec set-up through the API server and kubelet. */
export const EXEC_SLACK_MS = 10_000;

export function connectArgv(address: string, port: number, protocol: string, timeoutMs: number): string[] {
  const host = address.includes(':') ? `[${address}]` : address;
  const secs = Math.max(1, Math.round(timeoutMs / 1000));
  return [
    '/agnhost',
    'connect',
    `${host}:${port}`,
    `--timeout=${secs}s`,
    `--protocol=${protocol.toLowerCase()}`,
  ];
}

/** agnhost connect's failure words (TIMEOUT, REFUSED, OTHER): the command ran and the connection failed. */
const CONNECT_FAILURE = /\b(TIMEOUT|REFUSED|OTHER)\b/;

export function interpretConnect(
  r: ExecOutcome,
  execLimitMs: number,
): Pick<PlatformProbeAnswer, 'outcome' | 'detail'> {
  if (r.timedOut) return { outcome: 'error', detail: `exec did not finish within ${execLimitMs} ms` };
  if (r.code === 0) return { outcome: 'reached', detail: 'connected' };
  const text = `${r.stderr} ${r.stdout}`.trim();
  if (CONNECT_FAILURE.test(text)) return { outcome: 'blocked', detail: text.split('\n')[0]!.slice(0, 200) };
  return {
    outcome: 'error',
    detail: `agnhost connect exited ${r.code}: ${text.slice(0, 200) || 'no output'}`,
  };
}

export interface ProbeHost {
  /** Where to exec for a source host, or why it cannot be a source (undefined: not a pod of this platform). */
  execTarget(
    host: string,
  ): { run: (argv: string[], timeoutMs: number) => Promise<ExecOutcome> } | { unsupported: string };
  /** Why this cell cannot be carried here (e.g. between kind clusters), or undefined. */
  unsupported?(from: string, to: string, protocol: string): string | undefined;
}

export async function probeByExec(
  host: ProbeHost,
  targets: PlatformProbe[],
  opts: { timeoutMs: number; parallel?: number },
): Promise<PlatformProbeAnswer[]> {
  const out: PlatformProbeAnswer[] = new Array(targets.length);
  const limit = opts.timeoutMs + EXEC_SLACK_MS;
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      const t = targets[i]!;
      const why = host.unsupported?.(t.from, t.to, t.protocol);
      const target = host.execTarget(t.from);
      if (why || 'unsupported' in target) {
        out[i] = {
          outcome: 'unsupported',
          detail: why ?? (target as { unsupported: string }).unsupported,
          us: 0,
        };
        continue;
      }
      const t0 = performance.now();
      try {
        const r = await target.run(connectArgv(t.address, t.port, t.protocol, opts.timeoutMs), limit);
        out[i] = { ...interpretConnect(r, limit), us: Math.round((performance.now() - t0) * 1000) };
      } catch (e) {
        const detail = e instanceof ExecError ? e.message : `probe could not run: ${(e as Error).message}`;
        out[i] = { outcome: 'error', detail, us: Math.round((performance.now() - t0) * 1000) };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(opts.parallel ?? PROBE_PARALLEL, targets.length)) }, worker),
  );
  return out;
}
