// Runs one scenario under one enforcement mode on a platform: network up, probe servers, enforcer, then each
// step's actions and probes, comparing the observed table with the expected one. Always tears down.
import type { Enforcer, EnforcerFactory } from '../enforce/enforcer.ts';
import type { ClusterState, IPFamily } from '../policy/model.ts';
import { diffTables, type TableDiff } from '../policy/diff.ts';
import { truthTables, type TruthTable } from '../policy/truthtable.ts';
import type { Network, Platform } from '../platform/platform.ts';
import type { Mode, ProbeSpec } from '../scenario/schema.ts';
import { layersOf } from '../policy/authz/combined.ts';
import { l7TruthTable } from '../policy/authz/table.ts';
import { applyAction } from '../scenario/state.ts';
import type { Action, Scenario } from '../scenario/types.ts';
import { allAllowedTable, observedTable, probeCells, serverHosts, serverPlan } from '../traffic/plan.ts';
import { probeReachability } from '../traffic/reachability.ts';
import { startProbeServers, type ProbeServers } from '../traffic/servers.ts';

export interface ProbeOutcome {
  port: number | string;
  protocol: string;
  /** Set when the scenario has more than one address family. */
  family?: IPFamily;
  expected: TruthTable;
  observed: TruthTable;
  diff: TableDiff;
  /** Cells compared (non-self, probed). */
  compared: number;
  mismatched: number;
  unsupported: number;
  /** Differing cells the mode declares it cannot express (Enforcer.inexpressible); named in the diff, not counted. */
  inexpressible: number;
  probeMs: number;
}

export interface StepOutcome {
  name: string;
  programmingMs: number;
  programmingDetail?: Record<string, number | string>;
  probes: ProbeOutcome[];
}

export interface ScenarioModeOutcome {
  file: string;
  scenario: string;
  mode: Mode;
  prefix?: string;
  initialProgrammingMs?: number;
  steps: StepOutcome[];
  upMs?: number;
  error?: string;
}

export interface RunOptions {
  progress?: (line: string) => void;
  probeTimeoutMs?: number;
}

const podRef = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export async function runScenarioMode(
  scenario: Scenario,
  mode: Mode,
  platform: Platform,
  factory: EnforcerFactory,
  opts: RunOptions = {},
): Promise<ScenarioModeOutcome> {
  const log = opts.progress ?? (() => undefined);
  const out: ScenarioModeOutcome = { file: scenario.file, scenario: scenario.name, mode, steps: [] };
  const t0 = performance.now();
  const plan = serverPlan(scenario);
  const net = await platform.up(scenario.topology, scenario.initial.pods, {
    serve: (p) => plan.forHost(podRef(p), scenario.initial),
  });
  out.prefix = net.prefix;
  out.upMs = performance.now() - t0;
  log(
    `${scenario.name} [${mode}]: network ${net.prefix} up in ${Math.round(out.upMs)} ms (${net.hosts().length} hosts)`,
  );
  let servers: ProbeServers | undefined;
  const laterServers: ProbeServers[] = [];
  let enforcer: Enforcer | undefined;
  try {
    let state: ClusterState = scenario.initial;
    servers = await startProbeServers(
      net,
      serverHosts(scenario, state).map((h) => plan.forHost(h, state)),
    );
    enforcer = factory(net, { httpPorts: plan.http });
    out.initialProgrammingMs = (await enforcer.apply(state)).programmingMs;
    for (const step of scenario.steps) {
      const next = step.actions.reduce<ClusterState>((s, a) => applyAction(s, a), state);
      await applyPodActions(net, step.actions, plan, next, servers, laterServers);
      const report = await enforcer.update(next, step.actions);
      state = next;
      const so: StepOutcome = {
        name: step.name,
        programmingMs: report.programmingMs,
        programmingDetail: report.detail,
        probes: [],
      };
      for (const probe of step.probes) {
        const cells = probeCells(
          state,
          probe,
          (f, t, family) => enforcer!.targetAddress(f, t, family),
          enforcer.unsupportedProtocols(),
        );
        const expected = expectedTable(mode, state, probe, cells);
        const p0 = performance.now();
        const agents = {
          agent: (h: string) => servers?.agent(h) ?? laterServers.map((s) => s.agent(h)).find(Boolean),
        };
        const timeoutMs = opts.probeTimeoutMs ?? 1000;
        const results = await probeReachability(net, cells.targets, { timeoutMs }, agents);
        let observed = observedTable(cells, probe, results);
        let diff = diffTables(expected, observed);
        // A mismatch is confirmed by probing those cells again with a longer timeout: on a loaded 2-core machine
        // a 1 s connect can miss, and a wrong verdict must not rest on one lost packet. Matching cells cost nothing.
        const reprobed = diff.cells.length;
        if (reprobed > 0) {
          const suspect = new Set(diff.cells.map((c) => `${c.from}\u0000${c.to}`));
          const idx = results.flatMap((r, i) => (suspect.has(`${r.from}\u0000${r.to}`) ? [i] : []));
          const again = await probeReachability(
            net,
            idx.map((i) => cells.targets[i]!),
            { timeoutMs: timeoutMs * 3 },
            agents,
          );
          idx.forEach((i, k) => (results[i] = again[k]!));
          observed = observedTable(cells, probe, results);
          diff = diffTables(expected, observed);
        }
        const probeMs = performance.now() - p0;
        let inexpressible = 0;
        for (const c of diff.cells) {
          const why = enforcer.inexpressible?.(state, {
            from: c.from,
            to: c.to,
            port: probe.port,
            protocol: probe.protocol,
            ...(probe.family ? { family: probe.family } : {}),
          });
          if (why) {
            inexpressible++;
            c.reasonB = `inexpressible under ${mode}: ${why}`;
          }
        }
        so.probes.push({
          port: probe.port,
          protocol: probe.protocol,
          ...(probe.family ? { family: probe.family } : {}),
          expected,
          observed,
          diff,
          compared: diff.compared - inexpressible,
          mismatched: diff.cells.length - inexpressible,
          inexpressible,
          unsupported: cells.skipped.length,
          probeMs,
        });
        const again = reprobed ? `, ${reprobed} mismatching cells re-probed` : '';
        log(
          `${scenario.name} [${mode}] ${step.name} ${probe.port}/${probe.protocol}${probe.family ? ` ${probe.family}` : ''}: ${diff.compared - diff.cells.length}/${diff.compared} cells match${inexpressible ? ` (${inexpressible} inexpressible)` : ''} (${Math.round(probeMs)} ms${again})`,
        );
      }
      out.steps.push(so);
    }
  } finally {
    await enforcer?.teardown().catch((e: Error) => log(`teardown of ${mode}: ${e.message}`));
    await servers?.stop();
    for (const s of laterServers) await s.stop();
    await net.down();
  }
  return out;
}

/**
 * What a mode must show for a probe: `none` every cell allowed; L3 modes the NetworkPolicy table; `+l7` modes
 * the combined L3 × L7 table (src/policy/authz/table.ts). Sidecars intercept TCP only (as Istio's do), so a
 * UDP probe under `+l7` is judged by its L3 layer alone.
 */
function expectedTable(
  mode: Mode,
  state: ClusterState,
  probe: ProbeSpec,
  cells: { from: string[]; to: string[] },
): TruthTable {
  if (mode === 'none') return allAllowedTable(cells.from, cells.to, probe);
  const sel = {
    port: probe.port,
    protocol: probe.protocol,
    from: cells.from,
    to: cells.to,
    ...(probe.family ? { family: probe.family } : {}),
  };
  const layers = layersOf(mode);
  if (!layers.l7) return truthTables(state, sel).combined;
  if (probe.protocol !== 'TCP') {
    if (!layers.l3) return allAllowedTable(cells.from, cells.to, probe);
    return truthTables(state, sel).combined;
  }
  return l7TruthTable(state, { ...sel, http: probe.http }, { layers });
}

/** Pod churn on the platform: removed pods lose their server first, added pods get one. */
async function applyPodActions(
  net: Network,
  actions: Action[],
  plan: ReturnType<typeof serverPlan>,
  state: ClusterState,
  servers: ProbeServers,
  laterServers: ProbeServers[],
): Promise<void> {
  for (const a of actions) {
    if ('removePod' in a) {
      await servers.stop(a.removePod.pod);
      for (const s of laterServers) await s.stop(a.removePod.pod);
      await net.removePod(a.removePod.pod);
    } else if ('addPod' in a) {
      await net.addPod(a.addPod);
      laterServers.push(await startProbeServers(net, [plan.forHost(podRef(a.addPod), state)]));
    }
  }
}
