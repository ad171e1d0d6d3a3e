// Every conformance scenario (and the examples) under `native` on Mininet, through the same code path as
// `testbed run --modes native`: real nftables on every node, every probe cell sent as real packets and compared
// with the engine. Passing means 0 mismatched cells; SCTP cells are reported as unsupported, never as passes.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenarioMode } from '../../src/commands/run-scenario.ts';
import { createNativeEnforcer } from '../../src/enforce/native/index.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { ipv6Sample } from './ipv6-sample.ts';

const files = ['scenarios/conformance', 'scenarios/examples'].flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => path.join(d, f))
    .filter(ipv6Sample),
);

describe('conformance scenarios under native', () => {
  it('has scenarios', () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(`${file}: observed reachability equals the engine's`, async () => {
      const sc = loadScenario(file);
      const oc = await runScenarioMode(sc, 'native', mininetPlatform, createNativeEnforcer);
      expect(oc.error).toBeUndefined();
      const probes = oc.steps.flatMap((s) => s.probes);
      const mismatches = probes
        .filter((p) => p.mismatched > 0)
        .map((p) => `${p.port}/${p.protocol}: ${p.mismatched} of ${p.compared}`);
      expect(mismatches).toEqual([]);
      const compared = probes.reduce((a, p) => a + p.compared + p.unsupported, 0);
      if (sc.steps.some((s) => s.probes.length > 0)) expect(compared).toBeGreaterThan(0);
    });
  }
});
