// Benchmark: the L3 × L7 table (src/policy/authz/table.ts) for N pods × M AuthorizationPolicies, one HTTP probe,
// no NetworkPolicy (so every cell reaches the L7 engine). Prints the table time, cells/s, CPU time and the load
// average; checks a sample of cells against the per-request engine so the figure is for correct output.
// Deterministic inputs (seeded PRNG). Usage: npx tsx bench/authz.ts [pods=1000] [authzPolicies=200]
import os from 'node:os';
import { evaluateAuthz } from '../src/policy/authz/engine.ts';
import { requestFor } from '../src/policy/authz/combined.ts';
import { l7TruthTable } from '../src/policy/authz/table.ts';
import { workloadPrincipal, type AuthorizationPolicy, type AuthzRule } from '../src/policy/authz/model.ts';
import type { ClusterState, Pod } from '../src/policy/model.ts';
import { METADATA_NAME_LABEL } from '../src/policy/model.ts';
import type { Cell } from '../src/policy/truthtable.ts';

const PODS = Number(process.argv[2] ?? 1000);
const POLICIES = Number(process.argv[3] ?? 200);
const NAMESPACES = 10;
const NODES = 10;

let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const APPS = Array.from({ length: 20 }, (_, i) => `app${i}`);
const SAS = ['default', 'web', 'api', 'batch'];

function buildState(): ClusterState {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => ({
    name: `ns${i}`,
    labels: { [METADATA_NAME_LABEL]: `ns${i}` },
  }));
  const nodes = Array.from({ length: NODES }, (_, i) => ({
    name: `n${i}`,
    cluster: 'c1',
    ip: `198.18.0.${10 + i}`,
    podCIDR: `10.1.${i + 1}.0/24`,
  }));
  const pods: Pod[] = Array.from({ length: PODS }, (_, i) => ({
    namespace: `ns${i % NAMESPACES}`,
    name: `p${i}`,
    labels: { app: pick(APPS) },
    node: `n${i % NODES}`,
    cluster: 'c1',
    ip: `10.1.${(i % NODES) + 1}.${10 + Math.floor(i / NODES)}`,
    ports: [{ port: 80, protocol: 'TCP', name: 'http' }],
    serviceAccount: pick(SAS),
    ...(rnd() < 0.05 ? { sidecar: false } : {}),
  }));
  const rule = (): AuthzRule => {
    const r = rnd();
    const from = [
      {
        source:
          r < 0.5
            ? { principals: [workloadPrincipal(`ns${Math.floor(rnd() * NAMESPACES)}`, pick(SAS))] }
            : { namespaces: [`ns${Math.floor(rnd() * NAMESPACES)}`] },
      },
    ];
    const to = [
      { operation: rnd() < 0.5 ? { methods: ['GET'], paths: ['/api/*'] } : { notPaths: ['/admin*'] } },
    ];
    return rnd() < 0.3
      ? { from, to, when: [{ key: 'request.headers[x-env]', values: ['prod', 'staging'] }] }
      : { from, to };
  };
  const authorizationPolicies: AuthorizationPolicy[] = Array.from({ length: POLICIES }, (_, i) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: `ap${i}`, namespace: `ns${i % NAMESPACES}` },
    spec: {
      selector: { matchLabels: { app: pick(APPS) } },
      action: rnd() < 0.2 ? 'DENY' : 'ALLOW',
      rules: Array.from({ length: 1 + Math.floor(rnd() * 3) }, rule),
    },
  }));
  return { namespaces, pods, nodes, externals: [], policies: [], authorizationPolicies };
}

const state = buildState();
const probe = {
  port: 80,
  protocol: 'TCP' as const,
  http: { method: 'GET', path: '/api/v1/../items?x=1', headers: { 'X-Env': 'prod' } },
};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const table = l7TruthTable(state, probe);
const t1 = performance.now();
const cpu = process.cpuUsage(cpu0);
const cells = table.from.length * table.to.length;
const count: Record<Cell, number> = { '.': 0, X: 0, '7': 0, '-': 0, E: 0 };
for (const row of table.cells) for (const c of row) count[c]++;
console.log(
  `L7 truth table: ${PODS} pods x ${POLICIES} AuthorizationPolicies, HTTP GET on 80 (node ${process.version}, ${cells} cells)`,
);
console.log(
  `  cells: ${count['.']} allowed, ${count['7']} denied at L7, ${count.X} denied at L3, ${count['-']} self`,
);
console.log(
  `  table        ${(t1 - t0).toFixed(1)} ms -> ${((cells / (t1 - t0)) * 1000).toExponential(2)} cells/s`,
);
console.log(
  `  cpu time     ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms (load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`,
);

// The table path (per-column policy lists) must agree with the per-request engine over all policies.
let disagreements = 0;
const SAMPLE = 2000;
for (let k = 0; k < SAMPLE; k++) {
  const i = Math.floor(rnd() * table.from.length);
  const j = Math.floor(rnd() * table.to.length);
  const from = table.from[i]!;
  const to = table.to[j]!;
  if (from === to) continue;
  const dst = state.pods.find((p) => `${p.namespace}/${p.name}` === to)!;
  const req = requestFor(state, { from, to, port: 80, protocol: 'TCP' }, probe.http)!;
  const want =
    dst.sidecar === false ? '.' : evaluateAuthz(state.authorizationPolicies!, dst, req).allowed ? '.' : '7';
  if (want !== table.cells[i]![j]) disagreements++;
}
console.log(
  `  check        ${SAMPLE} sampled cells vs evaluateAuthz over all policies: ${disagreements} disagreements`,
);
if (disagreements) process.exitCode = 1;
