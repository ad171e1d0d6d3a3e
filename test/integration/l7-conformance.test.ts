// The L7 conformance scenarios (scenarios/conformance-l7/, tables derived by hand from the Istio docs) on Mininet
// under none+l7, native+l7 and overlay+l7, through the same code path as `testbed run --modes …+l7`: sidecars
// with mutual TLS in every pod, HTTP and TCP probes as real connections, each cell compared with the engine's
// combined L3 × L7 verdict (allowed / denied at L3 / denied at L7). Passing means 0 mismatched cells.
// Default: a representative sample per mode (about 30 s per scenario run on this 2-core VM);
// TB_L7_FULL=1: every scenario under every mode.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenarioMode } from '../../src/commands/run-scenario.ts';
import { ENFORCERS } from '../../src/enforce/index.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { Mode } from '../../src/scenario/schema.ts';

const DIR = 'scenarios/conformance-l7';
const all = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const MODES: Mode[] = ['none+l7', 'native+l7', 'overlay+l7'];
// Each mode gets cases that exercise what it adds: none+l7 identity and paths alone; native+l7 the L3 × L7
// combinations; overlay+l7 combinations plus ipBlocks (source.ip is the overlay address there).
const SAMPLE: Record<string, string[]> = {
  'none+l7': ['19-notprincipals-matches-plaintext', '28-path-dot-segments-deny', '48-policy-lifecycle'],
  'native+l7': ['41-l3-allows-l7-denies', '42-l3-denies-l7-would-allow', '38-tcp-allow-drops-http-rule'],
  'overlay+l7': ['43-l3-and-l7-combined', '47-ipblocks', '06-deny-before-allow'],
};
const full = process.env.TB_L7_FULL === '1';

describe('L7 conformance scenarios on Mininet', () => {
  it('has the scenarios the sample names', () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
    for (const names of Object.values(SAMPLE)) for (const n of names) expect(all).toContain(`${n}.yaml`);
  });
  for (const mode of MODES) {
    const files = full ? all : all.filter((f) => SAMPLE[mode]!.includes(f.replace(/\.yaml$/, '')));
    for (const f of files) {
      it(`${f} under ${mode}: observed cells equal the combined verdicts`, async () => {
        const sc = loadScenario(path.join(DIR, f));
        const oc = await runScenarioMode(sc, mode, mininetPlatform, ENFORCERS[mode]!);
        expect(oc.error).toBeUndefined();
        const probes = oc.steps.flatMap((s) => s.probes);
        const mismatches = probes.flatMap((p) =>
          p.diff.cells
            .filter((c) => !c.reasonB?.startsWith('inexpressible'))
            .map((c) => `${p.port}/${p.protocol} ${c.from}→${c.to}: ${JSON.stringify(c)}`),
        );
        expect(mismatches).toEqual([]);
        expect(probes.reduce((a, p) => a + p.compared, 0)).toBeGreaterThan(0);
      });
    }
  }
});
