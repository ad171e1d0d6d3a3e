// Native enforcement benchmark (issue 3): nftables compile time and ruleset size for 1,000 and 10,000 policies
// on 3 nodes × 30 pods, `nft -f` load time into a throw-away namespace, and (with --rr, on Mininet) RR/CRR
// latency through native enforcement with 1,000 policies vs no enforcement on the same path.
//   sudo npx tsx bench/nft.ts [--reps 5] [--rr | --only rr] [--requests 5000] [--rr-reps 3] [--policies 1000,10000]
//   [--dual]   dual-stack state: every pod also has an IPv6 address, half the ipBlocks are IPv6 (target: 10,000
//              policies compile in ≤ 1 s)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { applyRuleset, type Exec } from '../src/enforce/native/apply.ts';
import { compileAllNodes, type NodeRuleset } from '../src/enforce/native/compile.ts';
import { compileState } from '../src/policy/engine.ts';
import { runIn } from '../test/integration/native-netns.ts';
import { syntheticState } from './nft-state.ts';
import { rrBench } from './nft-rr.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const REPS = Number(opt('reps', '5'));
const DUAL = argv.includes('--dual');
const SIZES = opt('policies', '1000,10000').split(',').map(Number);
const run = promisify(execFile);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f1 = (x: number) => x.toFixed(1);

interface CompileTiming {
  wallMs: number;
  cpuMs: number;
  /** CPU ms of the engine's compileState (selection, peers) alone; the rest is the nft compiler. */
  engineCpuMs: number;
  rulesets: NodeRuleset[];
}

const cpuMsSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

/**
 * Wall and CPU time of one compile of a fresh state object (the engine's per-state cache starts empty). CPU time
 * is reported next to wall time because the machine is shared: wall time includes waiting for a core.
 */
function timeCompile(policies: number, sparse: boolean): CompileTiming {
  const state = syntheticState({ nodes: 3, podsPerNode: 30, policies, sparse, dual: DUAL });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  compileState(state);
  const engineCpuMs = cpuMsSince(c0);
  const rulesets = compileAllNodes(state);
  const wallMs = performance.now() - t0;
  return { wallMs, cpuMs: cpuMsSince(c0), engineCpuMs, rulesets };
}

async function compileAndLoad(): Promise<void> {
  const ns = `natv${process.pid % 100000}b`;
  await run('ip', ['netns', 'add', ns]);
  const exec: Exec = (_host, a, o) => runIn(ns, a, o);
  const one = async (n: number, sparse: boolean) => {
    const cold = timeCompile(n, sparse);
    const warm = Array.from({ length: REPS }, () => timeCompile(n, sparse));
    const r = cold.rulesets.find((x) => x.node === 'n1')!;
    console.log(
      `${String(n).padStart(6)} policies: compile all 3 nodes cold ${f1(cold.wallMs)} ms (cpu ${f1(cold.cpuMs)}), ` +
        `median ${f1(median(warm.map((w) => w.wallMs)))} ms wall / ${f1(median(warm.map((w) => w.cpuMs)))} ms cpu ` +
        `(of which engine ${f1(median(warm.map((w) => w.engineCpuMs)))}) ` +
        `(min ${f1(Math.min(...warm.map((w) => w.wallMs)))} wall); per node: ${r.ruleCount} rules, ${r.chainCount} chains, ` +
        `${r.setCount} sets, ${(Buffer.byteLength(r.text) / 1024).toFixed(0)} KiB`,
    );
    // Load: into an empty namespace, then again replacing the table (what an update costs).
    const loads: number[] = [];
    const reloads: number[] = [];
    for (let i = 0; i < 3; i++) {
      await runIn(ns, ['nft', 'flush', 'ruleset']);
      loads.push(await applyRuleset(exec, 'n1', r.text, { timeoutMs: 300_000 }));
      reloads.push(await applyRuleset(exec, 'n1', r.text, { timeoutMs: 300_000 }));
    }
    console.log(
      `${' '.repeat(16)}nft -f one node: first load median ${f1(median(loads))} ms, replace median ${f1(median(reloads))} ms`,
    );
  };
  try {
    console.log(
      `== nft compile (3 nodes × 30 pods${DUAL ? ', dual-stack' : ''}, synthetic policies; ${REPS} runs after a first cold one; load avg ${(await loadavg()).join(' ')})`,
    );
    for (const sparse of [false, true]) {
      console.log(
        sparse
          ? '-- sparse: each policy selects ~2 pods'
          : '-- dense: each policy selects ~10 pods (each pod selected by ~11% of all policies)',
      );
      for (const n of SIZES) await one(n, sparse);
    }
  } finally {
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

async function loadavg(): Promise<string[]> {
  const os = await import('node:os');
  return os.loadavg().map((x) => x.toFixed(1));
}

const ONLY = opt('only', '');
if (ONLY !== 'rr') await compileAndLoad();
if (argv.includes('--rr') || ONLY === 'rr')
  await rrBench({
    requests: Number(opt('requests', '5000')),
    reps: Number(opt('rr-reps', '3')),
    policies: 1000,
  });
