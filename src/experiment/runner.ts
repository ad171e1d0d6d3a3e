// Runs a scenario's measurements on a platform under each enforcement mode. The topology comes up once; modes
// are switched per repetition so machine drift hits every mode alike. Two guards against carry-over (one
// mode's start-up or teardown still costing CPU while a mode is measured): each repetition runs the modes in
// the next row of a balanced order (order.ts), so no mode always follows the same one, and after every apply,
// update and teardown the runner waits until the CPUs are quiet (measure/settle.ts). Records go to the caller
// as they are measured (the caller writes them through the store).
import type { Enforcer, EnforcerFactory } from '../enforce/enforcer.ts';
import type { Network, Platform } from '../platform/platform.ts';
import type { ProgrammingRecord, ResultRecord } from '../results/schema.ts';
import type { MeasurementSpec, Mode } from '../scenario/schema.ts';
import type { Scenario } from '../scenario/types.ts';
import { startHttpServer, type HttpServer } from '../traffic/http.ts';
import { startProbeServers, type ProbeServers, type ServerSpec } from '../traffic/servers.ts';
import { settle as settleCpus, type Settled } from '../measure/settle.ts';
import { effortFor, measureOnce } from './measure.ts';
import { modeOrder } from './order.ts';
import { brief, Eta } from './progress.ts';
import { RR_KINDS, sweepPods, sweepPolicies } from './sweeps.ts';

export interface RunnerOptions {
  platform: Platform;
  enforcers: Partial<Record<Mode, EnforcerFactory>>;
  modes: Mode[];
  quick: boolean;
  /** Overrides every measurement's repetitions (e.g. --quick uses 3). */
  repetitions?: number;
  /** Modes the policy and pod sweeps run under (default: every mode but none). */
  sweepModes?: Mode[];
  /** Caps the sweep's policy counts (quick). */
  sweepMax?: number;
  /**
   * Waits after the topology comes up and after every apply, update and teardown until the machine is quiet
   * (default: this machine's CPUs, /proc/stat); `false` skips the wait (to measure the carry-over itself).
   */
  settle?: (() => Promise<Settled>) | false;
  onRecord(r: ResultRecord): void;
  onProgramming(p: ProgrammingRecord): void;
  onNote(n: string): void;
  progress(line: string): void;
}

function serverSpecs(ms: MeasurementSpec[]): ServerSpec[] {
  const by = new Map<string, ServerSpec>();
  for (const m of ms) {
    if (!RR_KINDS.has(m.kind)) continue;
    const s = by.get(m.to) ?? { host: m.to, tcp: [], udp: [] };
    const list = m.kind === 'udp-rr' ? s.udp : s.tcp;
    if (!list.includes(m.port)) list.push(m.port);
    by.set(m.to, s);
  }
  return [...by.values()];
}

export async function runScenario(scenario: Scenario, opts: RunnerOptions): Promise<{ ran: Mode[] }> {
  const modes = opts.modes.filter((m) => opts.enforcers[m]);
  const ms = scenario.measurements;
  const reps = (m: MeasurementSpec) => opts.repetitions ?? m.repetitions ?? 3;
  const maxReps = Math.max(0, ...ms.map(reps));
  const sweepCounts = (scenario.sweep?.policies ?? []).filter(
    (n) => opts.sweepMax === undefined || n <= opts.sweepMax,
  );
  const sweepModes = (opts.sweepModes ?? modes.filter((m) => m !== 'none')).filter((m) => modes.includes(m));
  const podCounts = [...new Set(scenario.sweep?.pods ?? [])];
  const eta = new Eta(
    ms.reduce((s, m) => s + reps(m), 0) * modes.length +
      (sweepCounts.length + podCounts.length) * sweepModes.length,
  );

  opts.progress(`[${scenario.name}] bringing up the topology on ${opts.platform.name}`);
  const net: Network = await opts.platform.up(scenario.topology, scenario.initial.pods);
  let probe: ProbeServers | undefined;
  const http: HttpServer[] = [];
  const ran = new Set<Mode>();
  try {
    probe = await startProbeServers(net, serverSpecs(ms));
    const httpCells = ms.filter((x) => x.kind === 'http' || x.kind === 'http-crr');
    const served = new Set<string>();
    for (const m of httpCells) {
      if (served.has(`${m.to}:${m.port}`)) continue;
      served.add(`${m.to}:${m.port}`);
      http.push(await startHttpServer(net, m.to, m.port));
    }
    // The mesh authorizes these per request (the +l7 modes); other enforcers ignore the hint.
    const enforcerOpts = { httpPorts: [...new Set(httpCells.map((m) => m.port))] };

    // A mode whose apply failed once is not retried: a half-applied enforcer can leave state behind, and a
    // retry per repetition would only repeat the failure (and its timeouts).
    const broken = new Set<Mode>();
    let settle = opts.settle === false ? undefined : (opts.settle ?? (() => settleCpus()));
    const unsettled: string[] = [];
    /** Waits for quiet CPUs; `what` names the step just done, for the note when the wait gives up. */
    const quiet = async (what: string): Promise<void> => {
      let s: Settled | undefined;
      try {
        s = await settle?.();
      } catch (e) {
        // No /proc/stat (the harness on another OS, driving a remote cluster): measure without the wait.
        settle = undefined;
        opts.onNote(`${scenario.name}: no settle between modes (${brief(e)})`);
        return;
      }
      if (!s || s.settled) return;
      unsettled.push(what);
      opts.progress(
        `[${scenario.name}] after ${what}: CPUs still ${Math.round(s.lastBusy * 100)}% busy after ${Math.round(s.waitedMs)} ms; going on`,
      );
    };
    await quiet('bringing up the topology');
    for (let rep = 0; rep < maxReps; rep++) {
      const order = modeOrder(modes, rep);
      opts.progress(`[${scenario.name}] repetition ${rep + 1}/${maxReps}: ${order.join(', ')}`);
      for (const mode of order) {
        const todo = ms.filter((m) => rep < reps(m));
        if (!todo.length || broken.has(mode)) continue;
        const enforcer: Enforcer = opts.enforcers[mode]!(net, enforcerOpts);
        try {
          const applied = await enforcer.apply(scenario.initial);
          ran.add(mode);
          // The mode's own start-up (processes, JIT, maps) is not its steady state either.
          await quiet(`applying ${mode} (repetition ${rep + 1})`);
          // Programming time of the scenario's own policies: the first point of the scale curve.
          if (rep === 0 && mode !== 'none')
            opts.onProgramming({
              scenario: scenario.name,
              mode,
              policies: scenario.initial.policies.length,
              programmingMs: applied.programmingMs,
            });
          for (const m of todo) {
            const started = new Date();
            const t0 = performance.now();
            try {
              const res = await measureOnce(
                net,
                enforcer,
                m,
                effortFor(m, opts.quick),
                rep * modes.length + modes.indexOf(mode),
              );
              opts.onRecord({
                scenario: scenario.name,
                measurement: m.name,
                kind: m.kind,
                path: m.path,
                mode,
                repetition: rep,
                from: m.from,
                to: m.to,
                startedAt: started.toISOString(),
                durationMs: performance.now() - t0,
                ...res,
              });
              const lat = res.latency
                ? ` p50 ${res.latency.summary.p50Us} µs p99 ${res.latency.summary.p99Us} µs`
                : '';
              const thr = res.throughput?.bitsPerSecond
                ? ` ${(res.throughput.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`
                : '';
              opts.progress(
                `[${scenario.name}] ${m.name} ${mode} rep ${rep + 1}/${reps(m)}:${lat}${thr} (${eta.tick()})`,
              );
            } catch (e) {
              opts.onNote(`${scenario.name}/${m.name} under ${mode}, repetition ${rep + 1}: ${brief(e)}`);
              opts.progress(
                `[${scenario.name}] ${m.name} ${mode} rep ${rep + 1}: FAILED ${brief(e)} (${eta.tick()})`,
              );
            }
          }
        } catch (e) {
          broken.add(mode);
          opts.onNote(
            `${scenario.name}: mode ${mode} could not be applied in repetition ${rep + 1} and is skipped from here on: ${brief(e)}`,
          );
          opts.progress(`[${scenario.name}] ${mode}: apply FAILED: ${brief(e)}`);
        } finally {
          await enforcer.teardown().catch((e) => opts.onNote(`${mode} teardown: ${(e as Error).message}`));
          await quiet(`the teardown of ${mode} (repetition ${rep + 1})`);
        }
      }
    }
    const ctx = { net, scenario, modes: sweepModes.filter((m) => !broken.has(m)), opts, eta, quiet };
    if (sweepCounts.length) await sweepPolicies(ctx, sweepCounts);
    // Last: it adds pods to the network (and removes them when done).
    if (podCounts.length) await sweepPods(ctx, podCounts);
    if (unsettled.length)
      opts.onNote(
        `${scenario.name}: the CPUs were not quiet within the settle limit after ${unsettled.join('; ')}; what was measured next may carry some of that cost`,
      );
  } finally {
    for (const h of http) await h.stop().catch(() => undefined);
    await probe?.stop().catch(() => undefined);
    await net.down();
  }
  return { ran: modes.filter((m) => ran.has(m)) };
}
