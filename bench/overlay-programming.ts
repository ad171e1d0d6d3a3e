// Overlay control-plane benchmark: policy-programming latency (push until every agent and SaP reports the new
// version) on Mininet, per update and per key-rotation phase, at a given pod and policy count. Root.
//   sudo npx tsx bench/overlay-programming.ts [--pods 12] [--updates 20] [--policies 0] [--ebpf]
// --policies N: N policies in force before the timed updates (each update adds or removes one more). Every
// policy allows its own port, so each update changes the allow tables of the SaPs of the pods it selects.
// --ebpf: mode overlay-ebpf (the same configs rendered into BPF maps, reference-impl/ebpf/).
import { compileOverlay } from '../reference-impl/control-plane/compile.ts';
import { newOverlay } from '../reference-impl/control-plane/keys.ts';
import { OverlayEnforcer } from '../src/enforce/overlay.ts';
import type { ClusterState, NetworkPolicy } from '../src/policy/model.ts';
import { mininetPlatform } from '../src/platform/mininet/index.ts';
import { parseScenario } from '../src/scenario/load.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: number): number => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const PODS = opt('pods', 12);
const UPDATES = opt('updates', 20);
const BASE = opt('policies', 0);
const EBPF = argv.includes('--ebpf');

const pods = Array.from(
  { length: PODS },
  (_, i) =>
    `  - { namespace: app, name: p${i}, labels: { app: a${i % 4} }, node: n${(i % 3) + 1}, ports: [{ port: 80 }] }`,
);
const sc = parseScenario(
  'bench.yaml',
  `name: bench\ntopology:\n  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }, { name: n3 }] }]\nnamespaces: [{ name: app }]\npods:\n${pods.join('\n')}\n`,
);

const policy = (i: number): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: `p${i}`, namespace: 'app' },
  spec: {
    podSelector: { matchLabels: { app: `a${i % 4}` } },
    // A port of its own per policy: no two policies compile to the same allow entry (the compiler keeps one
    // of equal entries), so every update below really changes the tables a SaP holds.
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 4}` } } }],
        ports: [{ port: 1024 + (i % 60_000) }],
      },
    ],
  },
});

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const fmt = (xs: number[]) =>
  `p50 ${q(xs, 0.5).toFixed(1)} ms, p90 ${q(xs, 0.9).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

// Pure compile cost first (no processes): scales with pods × policies.
for (const n of [10, 100, 1000]) {
  const st: ClusterState = { ...sc.initial, policies: Array.from({ length: n }, (_, i) => policy(i)) };
  const keys = newOverlay();
  const t0 = performance.now();
  const reps = 5;
  for (let r = 0; r < reps; r++)
    compileOverlay({ ...st, policies: [...st.policies] }, { version: r + 1, keys });
  console.log(`compile ${PODS} pods, ${n} policies: ${((performance.now() - t0) / reps).toFixed(2)} ms`);
}

const net = await mininetPlatform.up(sc.topology, sc.initial.pods);
const ov = new OverlayEnforcer(net, EBPF ? 'ebpf' : 'user');
try {
  const base = Array.from({ length: BASE }, (_, i) => policy(100_000 + i));
  const first = await ov.apply({ ...sc.initial, policies: base });
  console.log(
    `apply: ${first.detail?.processesStarted} processes started in ${first.detail?.processStartMs} ms; first push ${first.programmingMs.toFixed(1)} ms`,
  );
  const times: number[] = [];
  const compiles: number[] = [];
  const applies: number[] = [];
  let state: ClusterState = { ...sc.initial, policies: base };
  for (let i = 0; i < UPDATES; i++) {
    state = {
      ...state,
      policies:
        i % 2 === 0
          ? [...state.policies, policy(i)]
          : state.policies.filter((p) => p.metadata.name !== `p${i - 1}`),
    };
    const r = await ov.update(state, []);
    times.push(r.programmingMs);
    compiles.push(Number(r.detail?.compileMs ?? NaN));
    applies.push(Number(r.detail?.maxApplyMs ?? NaN));
  }
  console.log(
    `${ov.mode}: policy update with ${BASE} policies in force → in force at ${PODS} agents + 4 SaPs: ${fmt(times)}`,
  );
  console.log(`  of which compile (control plane, before the push): ${fmt(compiles)}`);
  console.log(`  slowest process's own apply (parse, render, map writes): ${fmt(applies)}`);
  const rot: Record<string, number[]> = {};
  for (let i = 0; i < 5; i++) for (const p of await ov.cp.rotateKey()) (rot[p.phase] ??= []).push(p.ms);
  for (const [phase, xs] of Object.entries(rot)) console.log(`key rotation ${phase}: ${fmt(xs)}`);
} finally {
  await ov.teardown();
  await net.down();
}
