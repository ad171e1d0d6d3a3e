// What the mesh adds: HTTP RR (keep-alive, autocannon c=1), HTTP CRR (a new connection per GET) and TCP RR
// between a client pod on n1 and a server pod on n2, under each L3 mode with and without `+l7` (a sidecar per
// pod, mutual TLS, an AuthorizationPolicy allowing the client's principal on the measured path). Modes alternate
// within each repetition; the added figure is `<mode>+l7` minus `<mode>` with a two-level bootstrap 95% CI.
//   sudo npx tsx bench/mesh.ts [--modes none,native] [--reps 3] [--requests 2000] [--crr 300]
// Figures carry the load average: on a shared 2-vCPU VM they move with what else runs.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ENFORCERS } from '../src/enforce/index.ts';
import { decodeHistogram, toWeightedSample } from '../src/measure/histogram.ts';
import { bootstrapPercentileDiffs, percentile, pool, type WeightedSample } from '../src/measure/stats.ts';
import { mininetPlatform } from '../src/platform/mininet/index.ts';
import { parseScenario } from '../src/scenario/load.ts';
import type { Mode } from '../src/scenario/schema.ts';
import { runHttpCrr } from '../src/traffic/crr.ts';
import { runHttp, startHttpServer } from '../src/traffic/http.ts';
import { runRr } from '../src/traffic/rr.ts';
import { startProbeServers } from '../src/traffic/servers.ts';

const { values: o } = parseArgs({
  options: {
    modes: { type: 'string', default: 'none,native' },
    reps: { type: 'string', default: '3' },
    requests: { type: 'string', default: '2000' },
    crr: { type: 'string', default: '300' },
  },
});
const bases = o.modes.split(',') as Mode[];
const reps = Number(o.reps);
const HTTP_PORT = 8080;
const TCP_PORT = 80;

const sc = parseScenario(
  'bench/mesh (inline)',
  `
name: mesh-bench
topology: { clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }] }
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: client, node: n1, serviceAccount: client, labels: { role: client } }
  - { namespace: app, name: server, node: n2, labels: { role: server } }
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: server-ingress, namespace: app }
    spec:
      podSelector: { matchLabels: { role: server } }
      ingress: [{ from: [{ podSelector: { matchLabels: { role: client } } }] }]
authorizationPolicies:
  - apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: { name: server-allow-client, namespace: app }
    spec:
      selector: { matchLabels: { role: server } }
      rules:
        - from: [{ source: { principals: ["cluster.local/ns/app/sa/client"] } }]
          to: [{ operation: { methods: ["GET"], ports: ["${HTTP_PORT}", "${TCP_PORT}"] } }]
        - from: [{ source: { principals: ["cluster.local/ns/app/sa/client"] } }]
          to: [{ operation: { ports: ["${TCP_PORT}"] } }]
`,
);

const modes = bases.flatMap((m) => [m, `${m}+l7` as Mode]);
for (const m of modes) if (!ENFORCERS[m]) throw new Error(`unknown mode ${m}`);
const kinds = ['http-rr', 'http-crr', 'tcp-rr'] as const;
const samples = new Map<string, WeightedSample[]>();
const add = (mode: string, kind: string, histogram: string) => {
  const k = `${mode}|${kind}`;
  samples.set(k, [...(samples.get(k) ?? []), toWeightedSample(decodeHistogram(histogram))]);
};

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const loadStart = load();
const net = await mininetPlatform.up(sc.topology, sc.initial.pods);
try {
  const probe = await startProbeServers(net, [{ host: 'app/server', tcp: [TCP_PORT], udp: [] }]);
  const http = await startHttpServer(net, 'app/server', HTTP_PORT);
  try {
    for (let rep = 0; rep < reps; rep++)
      for (const mode of modes) {
        const enf = ENFORCERS[mode]!(net, { httpPorts: [HTTP_PORT] });
        try {
          await enf.apply(sc.initial);
          const address = enf.targetAddress('app/client', 'app/server');
          const requests = Number(o.requests);
          const h = await runHttp(net, {
            from: 'app/client',
            address,
            port: HTTP_PORT,
            requests,
            warmup: 300,
          });
          add(mode, 'http-rr', h.histogram);
          const c = await runHttpCrr(net, {
            from: 'app/client',
            address,
            port: HTTP_PORT,
            requests: Number(o.crr),
            warmup: 30,
          });
          add(mode, 'http-crr', c.histogram);
          const t = await runRr(net, {
            from: 'app/client',
            address,
            port: TCP_PORT,
            protocol: 'TCP',
            requests,
            warmup: 300,
          });
          add(mode, 'tcp-rr', t.histogram);
          process.stderr.write(
            `rep ${rep + 1}/${reps} ${mode}: http-rr p50 ${h.p50Us} µs, http-crr p50 ${c.p50Us} µs, tcp-rr p50 ${t.p50Us} µs (errors ${h.errors}/${c.lost}/${t.lost})\n`,
          );
        } finally {
          await enf.teardown();
        }
      }
  } finally {
    await http.stop();
    await probe.stop();
  }
} finally {
  await net.down();
}

const fmt = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x)}`;
console.log(`load average: ${loadStart} at start, ${load()} at end (2 vCPUs, shared with other work)`);
console.log(
  '| workload | mode | p50 µs | p90 µs | p99 µs | added p50 µs [95% CI] | added p90 µs | added p99 µs [95% CI] |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const kind of kinds)
  for (const m of bases) {
    const base = samples.get(`${m}|${kind}`) ?? [];
    const l7 = samples.get(`${m}+l7|${kind}`) ?? [];
    if (!base.length || !l7.length) continue;
    const [p50, p90, p99] = bootstrapPercentileDiffs(base, l7, [50, 90, 99], { iterations: 500 });
    const pl = pool(l7);
    const pb = pool(base);
    console.log(
      `| ${kind} | ${m} | ${percentile(pb, 50)} | ${percentile(pb, 90)} | ${percentile(pb, 99)} | | | |\n` +
        `| ${kind} | ${m}+l7 | ${percentile(pl, 50)} | ${percentile(pl, 90)} | ${percentile(pl, 99)} | ${fmt(p50!.estimate)} [${fmt(p50!.lo)}, ${fmt(p50!.hi)}] | ${fmt(p90!.estimate)} | ${fmt(p99!.estimate)} [${fmt(p99!.lo)}, ${fmt(p99!.hi)}] |`,
    );
  }
