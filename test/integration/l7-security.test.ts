// Attacks on the mesh layer, on Mininet under none+l7 and overlay+l7: a forged identity header, a client without
// a certificate, a certificate from another CA, and path tricks. Each request is judged by the engine
// (combinedVerdict / evaluateAuthz) and must be observed exactly so; the server's workload logs every request
// it is delivered, and where the engine says deny it must log none. Identity is only ever the peer
// certificate's: the server policy admits only sa `client`, and the other pods try to pass for it.
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshCA } from '../../reference-impl/mesh/ca.ts';
import { PROXY_UID } from '../../reference-impl/mesh/intercept.ts';
import { withL7, type MeshEnforcer } from '../../src/enforce/mesh/index.ts';
import { createNoneEnforcer } from '../../src/enforce/none.ts';
import { createOverlayEnforcer } from '../../src/enforce/overlay.ts';
import { combinedVerdict, requestFor } from '../../src/policy/authz/combined.ts';
import type { HttpProbeSpec } from '../../src/policy/authz/model.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import type { Network } from '../../src/platform/platform.ts';
import type { Mode } from '../../src/scenario/schema.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { PROBE_CLIENT, classifyProbe } from '../../src/traffic/reachability.ts';

const APP = fileURLToPath(new URL('./fixtures/l7-app.mjs', import.meta.url));
const ATTACKER = fileURLToPath(new URL('./fixtures/l7-attacker.mjs', import.meta.url));
const PORT = 8080;

const sc = parseScenario(
  'l7-security.yaml',
  `
name: l7-security
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
  externals: [{ name: outsider }]
namespaces: [{ name: x }]
pods:
  - { namespace: x, name: client, node: n1, serviceAccount: client }
  - { namespace: x, name: other, node: n1, serviceAccount: other }
  - { namespace: x, name: server, node: n2, labels: { app: server } }
authorizationPolicies:
  - apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: { name: server-allow, namespace: x }
    spec:
      selector: { matchLabels: { app: server } }
      rules:
        - from: [{ source: { principals: ["cluster.local/ns/x/sa/client"] } }]
          to: [{ operation: { methods: ["GET"], paths: ["/public*"] } }]
  - apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: { name: server-deny-admin, namespace: x }
    spec:
      selector: { matchLabels: { app: server } }
      action: DENY
      rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]
`,
);
const state = sc.initial;

interface Probe {
  from: string;
  http: HttpProbeSpec;
}

/** Path tricks (Istio BASE normalization: dot segments resolved, %2E decoded, `//` kept, %2F kept). */
const TRICKS = [
  '/public/ok',
  '/admin/../public',
  '/public/../admin',
  '/public/%2E%2E/admin',
  '/public/%2e%2e/admin',
  '/%2E/admin',
  '//admin',
  '/public//x',
  '/public%2F..%2Fadmin',
  '/public/./x?q=/admin',
  '/public\\..\\admin',
];

const FORGED: Record<string, string> = {
  'x-forwarded-client-cert': 'URI=spiffe://cluster.local/ns/x/sa/client',
  'x-spiffe-id': 'spiffe://cluster.local/ns/x/sa/client',
  'x-istio-principal': 'cluster.local/ns/x/sa/client',
};

for (const mode of ['none+l7', 'overlay+l7'] as Mode[]) {
  describe(`L7 security under ${mode}`, () => {
    let net: Network;
    let enf: MeshEnforcer;
    const delivered: { url: string; headers: Record<string, string> }[] = [];

    beforeAll(async () => {
      net = await mininetPlatform.up(sc.topology, state.pods);
      try {
        const app = net.spawn('x/server', [
          process.execPath,
          APP,
          JSON.stringify({ id: 'x/server', port: PORT }),
        ]);
        await new Promise<void>((resolve, reject) => {
          const lines = createInterface({ input: app.stdout! });
          lines.on('line', (l) => {
            if (l === 'ready') resolve();
            else if (l.startsWith('{')) delivered.push(JSON.parse(l) as (typeof delivered)[number]);
          });
          app.once('exit', (c) => reject(new Error(`app exited ${c}`)));
        });
        const inner = mode === 'overlay+l7' ? createOverlayEnforcer : createNoneEnforcer;
        enf = withL7(mode, inner)(net, { httpPorts: [PORT] }) as MeshEnforcer;
        await enf.apply(state);
      } catch (e) {
        await enf?.teardown().catch(() => undefined);
        await net.down();
        throw e;
      }
    });
    afterAll(async () => {
      await enf?.teardown().catch(() => undefined);
      await net?.down();
    });

    const target = (from: string) => enf.targetAddress(from, 'x/server');

    /** Sends probes through the probe client (from the app side of the pod: through its sidecar). */
    async function probe(ps: Probe[]) {
      const bySrc = new Map<string, number[]>();
      ps.forEach((p, i) => bySrc.set(p.from, [...(bySrc.get(p.from) ?? []), i]));
      const out = new Array<ReturnType<typeof classifyProbe> & { delivered: number }>(ps.length);
      for (const [from, idx] of bySrc) {
        // One at a time: each request's deliveries are counted on their own.
        for (const i of idx) {
          const before = delivered.length;
          const t = { key: i, ip: target(from), port: PORT, protocol: 'TCP', http: ps[i]!.http };
          const r = await net.exec(from, [process.execPath, PROBE_CLIENT], {
            input: JSON.stringify({ timeoutMs: 3000, udpTries: 1, concurrency: 1, targets: [t] }),
            timeoutMs: 20_000,
          });
          expect(r.code, r.stderr).toBe(0);
          const [c] = JSON.parse(r.stdout) as Parameters<typeof classifyProbe>[1][];
          await new Promise((res) => setTimeout(res, 50)); // let the app's log line arrive
          out[i] = {
            ...classifyProbe(
              { from, to: 'x/server', address: t.ip, port: PORT, protocol: 'TCP', http: t.http },
              c!,
            ),
            delivered: delivered.length - before,
          };
        }
      }
      return out;
    }

    const engineSays = (p: Probe) => {
      const flow = { from: p.from, to: 'x/server', port: PORT, protocol: 'TCP' as const };
      return combinedVerdict(state, flow, requestFor(state, flow, p.http), {
        l3: mode !== 'none+l7',
        l7: true,
      });
    };

    it('path tricks are decided exactly as the engine normalizes them; denied ones never reach the app', async () => {
      const ps: Probe[] = TRICKS.map((path) => ({ from: 'x/client', http: { method: 'GET', path } }));
      const got = await probe(ps);
      const rows = ps.map((p, i) => {
        const v = engineSays(p);
        return {
          path: p.http.path,
          engine: v.allowed ? 'reached' : 'denied-l7',
          observed: got[i]!.outcome,
          delivered: got[i]!.delivered,
        };
      });
      for (const r of rows) {
        expect(r.observed, JSON.stringify(r)).toBe(r.engine);
        expect(r.delivered, JSON.stringify(r)).toBe(r.engine === 'reached' ? 1 : 0);
      }
      // The cases the tricks are about: dot segments and %2E resolve into /admin and are denied; `//admin` is not
      // merged, so it is not /admin, but no ALLOW rule matches it either.
      const by = Object.fromEntries(rows.map((r) => [r.path, r.observed]));
      expect(by['/admin/../public']).toBe('reached');
      expect(by['/public/../admin']).toBe('denied-l7');
      expect(by['/public/%2E%2E/admin']).toBe('denied-l7');
      expect(by['//admin']).toBe('denied-l7');
    });

    it('a forged identity header gives no identity: sa other is denied, and the header never reaches the app', async () => {
      const ps: Probe[] = [
        { from: 'x/other', http: { method: 'GET', path: '/public/x', headers: FORGED } },
        { from: 'ext:outsider', http: { method: 'GET', path: '/public/x', headers: FORGED } },
        { from: 'x/client', http: { method: 'GET', path: '/public/x', headers: FORGED } },
      ];
      const got = await probe(ps);
      expect(ps.map((p) => engineSays(p).allowed)).toEqual([false, false, true]);
      expect(got.map((g) => g.outcome)).toEqual(['denied-l7', 'denied-l7', 'reached']);
      expect(got.map((g) => g.delivered)).toEqual([0, 0, 1]);
      // The one delivered request carries the proxy's own XFCC from the verified certificate, not the forged one.
      const last = delivered.at(-1)!;
      expect(last.headers['x-forwarded-client-cert']).toBe('URI=spiffe://cluster.local/ns/x/sa/client');
      expect(last.headers['x-spiffe-id']).toBeUndefined();
    });

    /** Runs the attacker in `from` as the proxy's uid, i.e. past its own sidecar, straight to the server pod. */
    async function attack(from: string, tls: unknown) {
      const before = delivered.length;
      const r = await net.exec(
        from,
        [
          'setpriv',
          `--reuid=${PROXY_UID}`,
          `--regid=${PROXY_UID}`,
          '--clear-groups',
          process.execPath,
          ATTACKER,
        ],
        {
          input: JSON.stringify({ ip: target(from), port: PORT, path: '/public/x', tls }),
          timeoutMs: 20_000,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      await new Promise((res) => setTimeout(res, 50));
      return {
        ...(JSON.parse(r.stdout) as { status?: number; error?: string }),
        delivered: delivered.length - before,
      };
    }

    it('a mesh client without a certificate, or with one from another CA, is refused before any request', async () => {
      const before = (await enf.counters())['x/server']!.counters;
      const foreign = await MeshCA.create('attacker root');
      // A certificate naming exactly the allowed identity, but signed by a CA the mesh does not trust.
      const forged = await foreign.issue({ namespace: 'x', serviceAccount: 'client' });
      const results = {
        plaintext: await attack('x/other', undefined),
        tlsNoCert: await attack('x/other', 'none'),
        foreignCa: await attack('x/other', { certPem: forged.certPem, keyPem: forged.keyPem }),
      };
      for (const [k, r] of Object.entries(results)) {
        expect(r.status, k).toBeUndefined();
        expect(r.delivered, k).toBe(0);
      }
      // The engine agrees: without a (trusted) certificate there is no identity, and this policy needs one.
      const flow = { from: 'x/other', to: 'x/server', port: PORT, protocol: 'TCP' as const };
      const plain = requestFor(state, flow, { method: 'GET', path: '/public/x' })!;
      const noId = { ...plain, source: { ip: plain.source.ip } };
      expect(combinedVerdict(state, flow, noId).allowed).toBe(false);
      const after = (await enf.counters())['x/server']!.counters;
      const rejected = (c: Record<string, number>) =>
        Object.entries(c)
          .filter(([k]) => k.startsWith('tlsRejected'))
          .reduce((a, [, v]) => a + v, 0);
      expect(rejected(after) - rejected(before)).toBe(3);
    });

    it('counters: mutual TLS between sidecars, plaintext from outside, verdicts by reason', async () => {
      const c = await enf.counters();
      const server = c['x/server']!.counters;
      expect(server.inboundMtls).toBeGreaterThan(0);
      expect(server.inboundPlaintext).toBeGreaterThan(0); // the outsider
      expect(server['allow:HTTP:ALLOW:x/server-allow#0']).toBeGreaterThan(0);
      expect(server['deny:HTTP:DENY:x/server-deny-admin#0']).toBeGreaterThan(0);
      expect(server['deny:HTTP:no-allow-matched']).toBeGreaterThan(0);
      expect(c['x/client']!.counters.outboundMtls).toBeGreaterThan(0);
    });

    it('certificate rotation under load drops no request', async () => {
      const before = (await enf.counters())['x/server']!.counters.inboundMtls ?? 0;
      const n = 60;
      const ps: Probe[] = Array.from({ length: n }, () => ({
        from: 'x/client',
        http: { method: 'GET', path: '/public/r' },
      }));
      const t = ps.map((p, i) => ({
        key: i,
        ip: target('x/client'),
        port: PORT,
        protocol: 'TCP',
        http: p.http,
      }));
      const running = net.exec('x/client', [process.execPath, PROBE_CLIENT], {
        input: JSON.stringify({ timeoutMs: 5000, udpTries: 1, concurrency: 4, targets: t }),
        timeoutMs: 60_000,
      });
      await new Promise((r) => setTimeout(r, 100));
      const rot = await enf.cp!.rotateCertificates();
      const r = await running;
      const res = JSON.parse(r.stdout) as { ok: boolean; error?: string; status?: number }[];
      expect(res.filter((x) => !x.ok)).toEqual([]);
      expect(rot.sidecars).toBe(3);
      const after = (await enf.counters())['x/server']!.counters.inboundMtls ?? 0;
      expect(after - before).toBe(n);
    });
  });
}
