// Live: one conformance scenario end to end on a real cluster, under native and overlay. Runs only when
// TESTBED_LIVE_KUBECONFIG names a reachable cluster (with nodes labelled testbed.io/node=n1..n3, see README);
// otherwise every test is skipped and the reason is printed. Never run on the machine this was written on.
import { describe, expect, it } from 'vitest';
import { runScenarioMode } from '../../src/commands/run-scenario.ts';
import { ENFORCERS } from '../../src/enforce/index.ts';
import { KubeClient, loadKubeConfig } from '../../src/platform/kubernetes/client.ts';
import { kubernetesPlatform } from '../../src/platform/kubernetes/index.ts';
import { loadScenario } from '../../src/scenario/load.ts';

const kubeconfig = process.env.TESTBED_LIVE_KUBECONFIG;
const context = process.env.TESTBED_LIVE_CONTEXT;

async function reachable(): Promise<string | undefined> {
  if (!kubeconfig) return 'TESTBED_LIVE_KUBECONFIG is not set';
  try {
    await new KubeClient(loadKubeConfig({ kubeconfig, context })).serverVersion(5000);
    return undefined;
  } catch (e) {
    return `the cluster in ${kubeconfig} is unreachable: ${(e as Error).message}`;
  }
}

const skipReason = await reachable();
if (skipReason) console.log(`k8s-live: skipped (${skipReason})`);

describe.skipIf(skipReason !== undefined)(
  `live Kubernetes${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const platform = kubernetesPlatform({ kubeconfig, context });

    it('prerequisites pass', async () => {
      await platform.checkPrerequisites();
    });

    for (const mode of ['native', 'overlay'] as const)
      it(`02-deny-all-ingress under ${mode}: every cell matches the engine`, async () => {
        const sc = loadScenario('scenarios/conformance/02-deny-all-ingress.yaml');
        const oc = await runScenarioMode(sc, mode, platform, ENFORCERS[mode]!, {
          progress: (l) => console.log(l),
        });
        const probes = oc.steps.flatMap((s) => s.probes);
        expect(probes.reduce((a, p) => a + p.compared, 0)).toBeGreaterThan(0);
        expect(probes.flatMap((p) => p.diff.cells.map((c) => `${c.from}->${c.to} ${c.reasonB}`))).toEqual([]);
      }, 900_000);
  },
);
