// Shared by bench/overlay-ebpf-security.ts: the flood that sends one attack and accounts for every packet
// (delivered to the workload, or dropped under a named counter: the processes' /status counters and, in user
// space, the pod guard's nftables counter). The scenario and the packets are in test/integration/overlay-attacks4.ts.
import { tool, type Lab } from '../test/integration/overlay-helpers.ts';

/** One attack: who sends what to where, and the counters (`process counter`) that must account for all of it. */
export interface Attack {
  name: string;
  from: string;
  target: { ip: string; port: number };
  hex: string[];
  bindPort?: number;
  expect: string[];
}

export interface Row {
  attack: string;
  target: string;
  sent: number;
  delivered: number;
  counted: number;
  by: string;
  pps: number;
  ok: boolean;
}

const GUARD = 'guard-drop';

/** The pod guard's drop counter in a host (the one `counter drop` rule of the ovguard table). */
async function guard(lab: Lab, host: string): Promise<number> {
  const r = await lab.net.exec(host, ['nft', 'list', 'table', 'inet', 'ovguard']);
  return Number(/counter packets (\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

/** Every counter of every process (and the guard of `guardHost`) as `id counter` → value. */
async function snapshot(lab: Lab, guardHost: string): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const [id, st] of Object.entries(await lab.ov.counters()))
    for (const [c, v] of Object.entries(st.counters)) if (c !== 'flows') m.set(`${id} ${c}`, v);
  // The user-space agent's nftables guard; the eBPF agent counts its guard's drops itself (guardDropped).
  const g = await guard(lab, guardHost);
  if (!Number.isNaN(g)) m.set(`${guardHost} ${GUARD}`, g);
  return m;
}

/**
 * Sends `count` packets of one attack (cycling through its datagrams), waits for the queues to drain, and
 * accounts: delivered = new lines at the sink, counted = the sum of the attack's expected counters' deltas
 * (must equal sent, with nothing delivered). `by` lists every counter that moved (but `rx`, which every
 * packet a program looked at moves).
 */
export async function flood(
  lab: Lab,
  a: Attack,
  count: number,
  sinkLines: () => number,
  guardHost: string,
): Promise<Row> {
  const before = await snapshot(lab, guardHost);
  const d0 = sinkLines();
  const t0 = performance.now();
  const r = await tool(
    lab.net,
    a.from,
    'flood',
    { ...a.target, hex: a.hex, count, bindPort: a.bindPort },
    900_000,
  );
  const secs = (performance.now() - t0) / 1000;
  // Datagrams whose send() failed never left the host: not sent.
  const sent = r.sent - ((r as unknown as { errors?: number }).errors ?? 0);
  // The counters settle once the last packet has crossed the namespaces; poll instead of one fixed sleep.
  let after = before;
  let counted = 0;
  for (let i = 0; i < 20; i++) {
    await new Promise((res) => setTimeout(res, 250));
    after = await snapshot(lab, guardHost);
    counted = a.expect.reduce((s, k) => s + (after.get(k) ?? 0) - (before.get(k) ?? 0), 0);
    if (counted >= sent) break;
  }
  const moved = [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([k, d]) => d > 0 && !k.endsWith(' rx'));
  const by = moved.map(([k, d]) => `${k} ${d}`).join('; ');
  const delivered = sinkLines() - d0;
  return {
    attack: a.name,
    target: `${a.target.ip.includes(':') ? `[${a.target.ip}]` : a.target.ip}:${a.target.port}`,
    sent,
    delivered,
    counted,
    by,
    pps: Math.round(sent / secs),
    ok: delivered === 0 && counted === sent && sent === count,
  };
}

export function table(rows: Row[]): string {
  const out = [
    '| attack | target | sent | delivered | counted by the expected counters | every counter that moved (process counter packets) | pps sent | ok |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    out.push(
      `| ${r.attack} | ${r.target} | ${r.sent} | ${r.delivered} | ${r.counted} | ${r.by} | ${r.pps} | ${r.ok ? 'yes' : '**NO**'} |`,
    );
  return out.join('\n');
}
