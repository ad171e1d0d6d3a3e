// The conformance run of the overlay modes on Mininet (used by overlay-conformance.test.ts and
// overlay-ebpf-conformance.test.ts): each step's actions applied (policies, labels, pods started/stopped), every
// probe cell sent through the overlay and compared with the engine (the same truth native enforcement is held
// to). Cells the control plane declares inexpressible are listed by name and reason, not counted as failures.
// Scenarios that share topology and pods share one network.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Datapath } from '../../src/enforce/overlay/processes.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';
import type { Scenario } from '../../src/scenario/types.ts';
import type { ProbeServers } from '../../src/traffic/servers.ts';
import { cellsOf, compare, down, serve, up, type Lab } from './overlay-helpers.ts';

const DIR = 'scenarios/conformance';
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => path.join(DIR, f));

export const CONFORMANCE_FILES = files;

const keyOf = (sc: Scenario) => JSON.stringify([sc.topology, sc.initial.pods]);

/** Defines one test per scenario file, all under one data path. */
export function conformanceSuite(mode: string, datapath: Datapath, only: string[] = files): void {
  const scenarios = only
    .map((f) => loadScenario(f))
    .filter((s) => s.steps.some((st) => st.probes.length > 0));
  let lab: Lab | undefined;
  let labKey = '';
  afterAll(() => down(lab));
  describe(`conformance scenarios under ${mode}`, () => {
    for (const sc of scenarios) {
      it(`${path.basename(sc.file)}: same verdicts as the engine`, async () => {
        if (!lab || labKey !== keyOf(sc)) {
          await down(lab);
          lab = undefined;
          lab = await up(sc, datapath);
        } else {
          await lab.ov.update(sc.initial, []);
        }
        labKey = ''; // reusable again only if this scenario ends cleanly with its initial pods
        const states = statesPerStep(sc.initial, sc.steps);
        const servers: ProbeServers[] = [];
        const served = new Map<string, string>();
        const report: string[] = [];
        let mismatches: string[] = [];
        try {
          for (const [i, step] of sc.steps.entries()) {
            const state = states[i]!;
            for (const a of step.actions) if ('addPod' in a) await lab.net.addPod(a.addPod);
            if (step.actions.length > 0) await lab.ov.update(state, step.actions);
            for (const a of step.actions) if ('removePod' in a) await lab.net.removePod(a.removePod.pod);
            const cells = step.probes.flatMap((p) => cellsOf(lab!.ov, state, p));
            // (Re)start a server where a host needs ports it does not serve yet.
            const need = new Map<string, string>();
            for (const c of cells)
              need.set(
                c.to,
                [...new Set([...(need.get(c.to)?.split(',') ?? []), `${c.protocol}${c.port}`])]
                  .sort()
                  .join(','),
              );
            const stale = [...need].filter(([h, k]) => served.get(h) !== k).map(([h]) => h);
            for (const g of servers) for (const h of stale) await g.stop(h);
            servers.push(
              await serve(
                lab.net,
                cells.filter((c) => stale.includes(c.to)),
              ),
            );
            for (const h of stale) served.set(h, need.get(h)!);
            const r = await compare(lab, state, cells);
            report.push(
              `step ${i + 1}: ${r.cells} cells, ${r.mismatches.length} mismatches, ${r.inexpressible.length} inexpressible, ${r.retried} reached on retry`,
              ...r.inexpressible,
            );
            mismatches = [...mismatches, ...r.mismatches.map((m) => `step ${i + 1}: ${m}`)];
          }
        } finally {
          for (const g of servers) await g.stop();
        }
        // A scenario that churned pods leaves a different network behind: do not reuse it.
        if (
          JSON.stringify(states.at(-1)?.pods.map((p) => p.ip)) ===
          JSON.stringify(sc.initial.pods.map((p) => p.ip))
        )
          labKey = keyOf(sc);
        console.log(`${path.basename(sc.file)}\n  ${report.join('\n  ')}`);
        expect(mismatches).toEqual([]);
      });
    }
  });
}
