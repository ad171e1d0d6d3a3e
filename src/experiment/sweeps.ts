// Scale sweeps over one measured flow, per mode: programming time and latency as the number of policies grows
// (filler policies, a fresh apply per point) and as the number of pods grows (idle pods added to the running
// network and programmed through the enforcer's update, the way a scenario's addPod step is).
import type { Enforcer } from '../enforce/enforcer.ts';
import type { Network } from '../platform/platform.ts';
import type { ClusterState, Flow, Pod } from '../policy/model.ts';
import type { MeasurementSpec, Mode } from '../scenario/schema.ts';
import type { Scenario } from '../scenario/types.ts';
import { withSweepPods } from './filler-pods.ts';
import { withFillers } from './fillers.ts';
import { effortFor, measureOnce, type Effort, type Measured } from './measure.ts';
import { brief, type Eta } from './progress.ts';
import type { RunnerOptions } from './runner.ts';

export const RR_KINDS = new Set(['udp-rr', 'tcp-rr', 'tcp-crr']);

/** What a sweep works with: the running network, the scenario, the modes to sweep, the runner's sinks. */
export interface SweepContext {
  net: Network;
  scenario: Scenario;
  modes: Mode[];
  opts: RunnerOptions;
  eta: Eta;
  /** Waits until the machine is quiet after the named step (runner.ts). */
  quiet(what: string): Promise<void>;
}

interface SweepTarget {
  m: MeasurementSpec;
  flow: Flow;
  effort: Effort;
}

/** The flow a sweep measures: the scenario's first CRR (setup is where enforcement costs most), else RR. */
function sweepTarget(scenario: Scenario, opts: RunnerOptions): SweepTarget | undefined {
  const m =
    scenario.measurements.find((x) => x.kind === 'tcp-crr') ??
    scenario.measurements.find((x) => RR_KINDS.has(x.kind));
  if (!m) {
    opts.onNote(`${scenario.name}: sweep needs an RR or CRR measurement to measure`);
    return undefined;
  }
  return {
    m,
    flow: { from: m.from, to: m.to, port: m.port, protocol: m.kind === 'udp-rr' ? 'UDP' : 'TCP' },
    effort: { ...effortFor(m, true), requests: m.kind === 'tcp-crr' ? 300 : 1000, warmup: 100 },
  };
}

/** Measures the sweep flow under the enforcer in force and records it with the point's x values. */
async function measurePoint(
  { net, scenario, opts }: SweepContext,
  enforcer: Enforcer,
  t: SweepTarget,
  x: { measurement: string; policies: number; pods?: number },
): Promise<Measured> {
  const started = new Date();
  const t0 = performance.now();
  const res = await measureOnce(net, enforcer, t.m, t.effort);
  opts.onRecord({
    scenario: scenario.name,
    measurement: x.measurement,
    kind: t.m.kind,
    path: t.m.path,
    mode: enforcer.mode,
    repetition: 0,
    from: t.m.from,
    to: t.m.to,
    policies: x.policies,
    ...(x.pods === undefined ? {} : { pods: x.pods }),
    startedAt: started.toISOString(),
    durationMs: performance.now() - t0,
    ...res,
  });
  return res;
}

/** Scale curve: programming time and latency of one flow with N filler policies in force, per mode. */
export async function sweepPolicies(ctx: SweepContext, counts: number[]): Promise<void> {
  const { net, scenario, modes, opts, eta } = ctx;
  const t = sweepTarget(scenario, opts);
  if (!t) return;
  const own = scenario.initial.policies.length;
  for (const mode of modes) {
    for (const fillers of counts) {
      // Curves are plotted against the total number of policies in force (scenario's own + fillers).
      const n = own + fillers;
      const filled = withFillers(scenario.initial, t.flow, fillers);
      if ('reason' in filled) {
        opts.onNote(`${scenario.name}: sweep skipped: ${filled.reason}`);
        return;
      }
      const enforcer = opts.enforcers[mode]!(net);
      try {
        const applied = await enforcer.apply(filled.state);
        opts.onProgramming({
          scenario: scenario.name,
          mode,
          policies: n,
          programmingMs: applied.programmingMs,
        });
        await ctx.quiet(`applying ${mode} with ${n} policies`);
        const res = await measurePoint(ctx, enforcer, t, { measurement: `sweep-${t.m.name}`, policies: n });
        opts.progress(
          `[${scenario.name}] sweep ${mode} ${n} policies: programming ${applied.programmingMs.toFixed(1)} ms, p50 ${res.latency?.summary.p50Us ?? '?'} µs (${eta.tick()})`,
        );
      } catch (e) {
        opts.onNote(`${scenario.name}: sweep ${mode} at ${n} policies failed: ${brief(e)}`);
        opts.progress(`[${scenario.name}] sweep ${mode} ${n}: FAILED ${brief(e)} (${eta.tick()})`);
      } finally {
        await enforcer.teardown().catch(() => undefined);
        await ctx.quiet(`the teardown of ${mode} with ${n} policies`);
      }
    }
  }
}

/**
 * Pod-count curve. Per mode the initial state is applied once; then, count by count in ascending order, idle
 * pods are added to the running network (Network.addPod) and programmed with one enforcer update carrying their
 * addPod actions. A point records the programming time of the update that brought the pods to its count from
 * the previous point (none at zero added pods: there is no update, and the initial apply programs every node
 * from scratch, which is not comparable) and the flow's latency with them in force. Added pods stay on the
 * network across modes (an enforcer leaves pods its state does not name alone) and are removed at the end.
 */
export async function sweepPods(ctx: SweepContext, counts: number[]): Promise<void> {
  const { net, scenario, modes, opts, eta } = ctx;
  const t = sweepTarget(scenario, opts);
  if (!t) return;
  const sorted = [...new Set(counts)].sort((a, b) => a - b);
  const points: { extra: number; state: ClusterState; added: Pod[] }[] = [];
  for (const extra of sorted) {
    const filled = withSweepPods(scenario.initial, t.flow, extra);
    if ('reason' in filled) return opts.onNote(`${scenario.name}: pod sweep skipped: ${filled.reason}`);
    points.push({ extra, ...filled });
  }
  const policies = scenario.initial.policies.length;
  const onNet = new Set<string>();
  try {
    for (const mode of modes) {
      const enforcer = opts.enforcers[mode]!(net);
      try {
        await enforcer.apply(scenario.initial);
        await ctx.quiet(`applying ${mode} (pod sweep)`);
        let have = 0;
        for (const point of points) {
          const pods = point.state.pods.length;
          try {
            const added = point.added.slice(have);
            for (const p of added) {
              const ref = `${p.namespace}/${p.name}`;
              if (onNet.has(ref)) continue;
              await net.addPod(p);
              onNet.add(ref);
            }
            // Programming time is that of an update; at zero added pods there is nothing to update.
            const report = added.length
              ? await enforcer.update(
                  point.state,
                  added.map((p) => ({ addPod: p })),
                )
              : undefined;
            have = point.extra;
            if (report) {
              await ctx.quiet(`updating ${mode} to ${pods} pods`);
              opts.onProgramming({
                scenario: scenario.name,
                mode,
                policies,
                pods,
                programmingMs: report.programmingMs,
                ...(report.detail ? { detail: report.detail } : {}),
              });
            }
            const x = { measurement: `sweep-pods-${t.m.name}`, policies, pods };
            const res = await measurePoint(ctx, enforcer, t, x);
            opts.progress(
              `[${scenario.name}] pod sweep ${mode} ${pods} pods: programming ${report ? `${report.programmingMs.toFixed(1)} ms` : '-'}, p50 ${res.latency?.summary.p50Us ?? '?'} µs (${eta.tick()})`,
            );
          } catch (e) {
            opts.onNote(`${scenario.name}: pod sweep ${mode} at ${pods} pods failed: ${brief(e)}`);
            opts.progress(`[${scenario.name}] pod sweep ${mode} ${pods}: FAILED ${brief(e)} (${eta.tick()})`);
          }
        }
      } catch (e) {
        opts.onNote(
          `${scenario.name}: pod sweep skipped under ${mode}: the initial apply failed: ${brief(e)}`,
        );
        opts.progress(`[${scenario.name}] pod sweep ${mode}: apply FAILED ${brief(e)}`);
      } finally {
        await enforcer.teardown().catch(() => undefined);
        await ctx.quiet(`the teardown of ${mode} (pod sweep)`);
      }
    }
  } finally {
    for (const ref of [...onNet].reverse())
      await net
        .removePod(ref)
        .catch((e) => opts.onNote(`${scenario.name}: pod sweep could not remove ${ref}: ${brief(e)}`));
  }
}
