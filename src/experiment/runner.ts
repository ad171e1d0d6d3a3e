// Runs a scenario's measurements on a platform under each enforcement mode. The topology comes up once; modes
// are switched per repetition (none, native, overlay, none, native, overlay, …) so machine drift hits every
// mode alike. Records go to the caller as they are measured (the caller writes them through the store).
import type { Enforcer, EnforcerFactory } from '../enforce/enforcer.ts';
import type { Network, Platform } from '../platform/platform.ts';
import type { ProgrammingRecord, ResultRecord } from '../results/schema.ts';
import type { MeasurementSpec, Mode } from '../scenario/schema.ts';
import type { Scenario } from '../scenario/types.ts';
import { startHttpServer, type HttpServer } from '../traffic/http.ts';
import { startProbeServers, type ProbeServers, type ServerSpec } from '../traffic/servers.ts';
import { withFillers } from './fillers.ts';
import { effortFor, measureOnce } from './measure.ts';

export interface RunnerOptions {
  platform: Platform;
  enforcers: Partial<Record<Mode, EnforcerFactory>>;
  modes: Mode[];
  quick: boolean;
  /** Overrides every measurement's repetitions (e.g. --quick uses 3). */
  repetitions?: number;
  /** Modes the policy sweep runs under (default: every mode but none). */
  sweepModes?: Mode[];
  /** Caps the sweep's policy counts (quick). */
  sweepMax?: number;
  onRecord(r: ResultRecord): void;
  onProgramming(p: ProgrammingRecord): void;
  onNote(n: string): void;
  progress(line: string): void;
}

const RR_KINDS = new Set(['udp-rr', 'tcp-rr', 'tcp-crr']);

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

/** Estimated time left from the mean time per completed unit. */
class Eta {
  private readonly t0 = Date.now();
  private done = 0;
  constructor(private readonly total: number) {}
  tick(): string {
    this.done++;
    const left = ((Date.now() - this.t0) / this.done) * (this.total - this.done);
    return `${this.done}/${this.total}, ETA ${Math.round(left / 1000)} s`;
  }
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
  const eta = new Eta(
    ms.reduce((s, m) => s + reps(m), 0) * modes.length + sweepCounts.length * sweepModes.length,
  );

  opts.progress(`[${scenario.name}] bringing up the topology on ${opts.platform.name}`);
  const net: Network = await opts.platform.up(scenario.topology, scenario.initial.pods);
  let probe: ProbeServers | undefined;
  const http: HttpServer[] = [];
  const ran = new Set<Mode>();
  try {
    probe = await startProbeServers(net, serverSpecs(ms));
    for (const m of ms.filter((x) => x.kind === 'http')) http.push(await startHttpServer(net, m.to, m.port));

    // A mode whose apply failed once is not retried: a half-applied enforcer can leave state behind, and a
    // retry per repetition would only repeat the failure (and its timeouts).
    const broken = new Set<Mode>();
    for (let rep = 0; rep < maxReps; rep++) {
      for (const mode of modes) {
        const todo = ms.filter((m) => rep < reps(m));
        if (!todo.length || broken.has(mode)) continue;
        const enforcer: Enforcer = opts.enforcers[mode]!(net);
        try {
          const applied = await enforcer.apply(scenario.initial);
          ran.add(mode);
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
        }
      }
    }
    if (sweepCounts.length)
      await sweep(
        net,
        scenario,
        sweepCounts,
        sweepModes.filter((m) => !broken.has(m)),
        opts,
        eta,
      );
  } finally {
    for (const h of http) await h.stop().catch(() => undefined);
    await probe?.stop().catch(() => undefined);
    await net.down();
  }
  return { ran: modes.filter((m) => ran.has(m)) };
}

/** Scale curve: programming time and latency of one flow with N filler policies in force, per mode. */
async function sweep(
  net: Network,
  scenario: Scenario,
  counts: number[],
  modes: Mode[],
  opts: RunnerOptions,
  eta: Eta,
): Promise<void> {
  const m =
    scenario.measurements.find((x) => x.kind === 'tcp-crr') ??
    scenario.measurements.find((x) => RR_KINDS.has(x.kind));
  if (!m) return opts.onNote(`${scenario.name}: sweep needs an RR or CRR measurement to measure`);
  const flow = {
    from: m.from,
    to: m.to,
    port: m.port,
    protocol: m.kind === 'udp-rr' ? ('UDP' as const) : ('TCP' as const),
  };
  const effort = { ...effortFor(m, true), requests: m.kind === 'tcp-crr' ? 300 : 1000, warmup: 100 };
  const own = scenario.initial.policies.length;
  for (const mode of modes) {
    for (const fillers of counts) {
      // Curves are plotted against the total number of policies in force (scenario's own + fillers).
      const n = own + fillers;
      const filled = withFillers(scenario.initial, flow, fillers);
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
        const started = new Date();
        const t0 = performance.now();
        const res = await measureOnce(net, enforcer, m, effort);
        opts.onRecord({
          scenario: scenario.name,
          measurement: `sweep-${m.name}`,
          kind: m.kind,
          path: m.path,
          mode,
          repetition: 0,
          from: m.from,
          to: m.to,
          policies: n,
          startedAt: started.toISOString(),
          durationMs: performance.now() - t0,
          ...res,
        });
        opts.progress(
          `[${scenario.name}] sweep ${mode} ${n} policies: programming ${applied.programmingMs.toFixed(1)} ms, p50 ${res.latency?.summary.p50Us ?? '?'} µs (${eta.tick()})`,
        );
      } catch (e) {
        opts.onNote(`${scenario.name}: sweep ${mode} at ${n} policies failed: ${brief(e)}`);
        opts.progress(`[${scenario.name}] sweep ${mode} ${n}: FAILED ${brief(e)} (${eta.tick()})`);
      } finally {
        await enforcer.teardown().catch(() => undefined);
      }
    }
  }
}

/** An error as one line for notes and progress: tools put the useful part (stderr) after the first line. */
function brief(e: unknown): string {
  const text = (e as Error).message.replace(/\s*\n\s*/g, ' | ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
