// Interoperability of the two data paths on one overlay (one wire format): pods of node n1 run eBPF agents
// behind a user-space SaP, pods of n2 run user-space agents behind an eBPF SaP, n3 is eBPF throughout, the
// gateway is user space. Every cell of two conformance scenarios (default allow; ingress and egress policy
// combined) must give the engine's verdict, and both kinds of SaP must have forwarded and denied packets.
// Mixed deployments run agents with `--offload off` (README, "overlay-ebpf"). Root; real Mininet namespaces.
import { afterAll, describe, expect, it } from 'vitest';
import type { Datapath } from '../../src/enforce/overlay/processes.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';
import type { Scenario } from '../../src/scenario/types.ts';
import type { ProbeServers } from '../../src/traffic/servers.ts';
import { cellsOf, compare, down, serve, up, type Lab } from './overlay-helpers.ts';

function mixed(sc: Scenario): (id: string, kind: 'sap' | 'agent') => Datapath {
  const nodeOf = new Map(sc.initial.pods.map((p) => [`${p.namespace}/${p.name}`, p.node]));
  return (id, kind) => {
    if (kind === 'sap') return id === 'node:n2' || id === 'node:n3' ? 'ebpf' : 'user';
    const node = nodeOf.get(id);
    return node === 'n1' || node === 'n3' ? 'ebpf' : 'user';
  };
}

let lab: Lab | undefined;
afterAll(() => down(lab));

describe('eBPF and user-space agents and SaPs on one overlay', () => {
  for (const file of ['01-default-allow', '27-ingress-egress-combined'])
    it(`${file}: same verdicts as the engine across the two data paths`, async () => {
      const sc = loadScenario(`scenarios/conformance/${file}.yaml`);
      await down(lab);
      lab = undefined;
      lab = await up(sc, mixed(sc), { offload: false });
      const states = statesPerStep(sc.initial, sc.steps);
      const servers: ProbeServers[] = [];
      const mismatches: string[] = [];
      try {
        for (const [i, step] of sc.steps.entries()) {
          if (step.actions.length > 0) await lab.ov.update(states[i]!, step.actions);
          const cells = step.probes.flatMap((p) => cellsOf(lab!.ov, states[i]!, p));
          for (const g of servers.splice(0)) await g.stop();
          servers.push(await serve(lab.net, cells));
          const r = await compare(lab, states[i]!, cells);
          mismatches.push(...r.mismatches.map((m) => `step ${i + 1}: ${m}`));
        }
      } finally {
        for (const g of servers) await g.stop();
      }
      expect(mismatches).toEqual([]);
      const st = await lab.ov.counters();
      // Both SaP kinds carried traffic of both agent kinds (n1: user SaP, eBPF agents; n2: the reverse).
      expect(st['node:n1']!.counters.allowed).toBeGreaterThan(0);
      expect(st['node:n2']!.counters.allowed).toBeGreaterThan(0);
      expect(lab.ov.procs.datapath('node:n2', 'sap')).toBe('ebpf');
      if (file !== '01-default-allow') {
        expect(st['node:n1']!.counters.deniedPolicy! + st['node:n2']!.counters.deniedPolicy!).toBeGreaterThan(
          0,
        );
      }
    });
});
