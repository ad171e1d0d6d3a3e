// The scenario format's Istio parts: strict AuthorizationPolicy validation (file, field, reason), files, steps,
// service accounts and sidecars, HTTP probes, and the combined L3 × L7 tables `verify` checks.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { combinedVerdict, layersOf, requestFor } from '../../src/policy/authz/combined.ts';
import { l7TruthTable } from '../../src/policy/authz/table.ts';
import { tableToJSON } from '../../src/policy/truthtable.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';

const dir = mkdtempSync(join(tmpdir(), 'authz-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 's.yaml');

const base = `name: t
topology: { clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }] }
namespaces: [{ name: x }, { name: y }]
pods:
  - { namespace: x, name: a, labels: { app: a }, node: n1, serviceAccount: sa-a, ports: [{ port: 80 }, { port: 81 }] }
  - { namespace: x, name: b, labels: { app: b }, node: n2, ports: [{ port: 80 }, { port: 81 }] }
  - { namespace: y, name: c, labels: { app: c }, node: n1, sidecar: false, ports: [{ port: 80 }] }
`;
const ap = (spec: string, meta = '{ name: p, namespace: x }') =>
  `  - apiVersion: security.istio.io/v1\n    kind: AuthorizationPolicy\n    metadata: ${meta}\n    spec: ${spec}\n`;
const withAP = (...policies: string[]) => `${base}authorizationPolicies:\n${policies.join('')}`;

function inputError(text: string): InputError {
  try {
    parseScenario(file, text);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

describe('AuthorizationPolicy validation', () => {
  it.each([
    ['{ action: CUSTOM }', 'authorizationPolicies[0].spec.action', /CUSTOM/],
    ['{ action: allow }', 'authorizationPolicies[0].spec.action', /ALLOW/],
    [
      '{ rules: [{ from: [{ source: { principal: [a] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].from[0].source',
      /principal/,
    ],
    [
      '{ rules: [{ from: [{ source: {} }] }] }',
      'authorizationPolicies[0].spec.rules[0].from[0].source',
      /at least one field/,
    ],
    [
      '{ rules: [{ from: [{ source: { ipBlocks: [10.0.0.0/33] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].from[0].source.ipBlocks[0]',
      /IP address or CIDR/,
    ],
    [
      '{ rules: [{ to: [{ operation: { ports: [8080] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation.ports[0]',
      /strings/,
    ],
    [
      '{ rules: [{ to: [{ operation: { ports: ["99999"] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation.ports[0]',
      /range/,
    ],
    [
      '{ rules: [{ to: [{ operation: { paths: [admin] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]',
      /start with/,
    ],
    [
      '{ rules: [{ to: [{ operation: { paths: ["/a/*/b"] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]',
      /first or last/,
    ],
    [
      '{ rules: [{ to: [{ operation: { paths: ["/foo/{*}"] } }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation.paths[0]',
      /templates/,
    ],
    [
      '{ rules: [{ to: [{ operation: {} }] }] }',
      'authorizationPolicies[0].spec.rules[0].to[0].operation',
      /at least one field/,
    ],
    [
      '{ rules: [{ when: [{ key: "request.auth.claims[iss]", values: [x] }] }] }',
      'authorizationPolicies[0].spec.rules[0].when[0].key',
      /unsupported condition key/,
    ],
    [
      '{ rules: [{ when: [{ key: source.ip }] }] }',
      'authorizationPolicies[0].spec.rules[0].when[0]',
      /values or notValues/,
    ],
    [
      '{ rules: [{ when: [{ key: source.ip, values: [nope] }] }] }',
      'authorizationPolicies[0].spec.rules[0].when[0].values[0]',
      /IP address/,
    ],
    [
      '{ rules: [{ when: [{ key: destination.port, notValues: [http] }] }] }',
      'authorizationPolicies[0].spec.rules[0].when[0].notValues[0]',
      /port/,
    ],
    ['{ selector: { matchExpressions: [] } }', 'authorizationPolicies[0].spec.selector', /matchExpressions/],
    ['{ targetRefs: [] }', 'authorizationPolicies[0].spec', /targetRefs/],
  ])('%s → %s', (spec, field, reason) => {
    const e = inputError(withAP(ap(spec)));
    expect(e.file).toBe(file);
    expect(e.field).toBe(field);
    expect(e.reason).toMatch(reason);
  });
  it('wrong apiVersion, undeclared namespace, duplicates, bad step references', () => {
    expect(
      inputError(withAP(ap('{}').replace('security.istio.io/v1', 'security.istio.io/v1beta1'))).field,
    ).toBe('authorizationPolicies[0].apiVersion');
    expect(inputError(withAP(ap('{}', '{ name: p, namespace: nope }'))).reason).toMatch(
      /namespace 'nope' is not declared/,
    );
    expect(inputError(withAP(ap('{}'), ap('{}'))).reason).toMatch(/already exists/);
    const step = `${base}steps:\n  - actions: [{ deleteAuthorizationPolicy: { namespace: x, name: gone } }]\n`;
    const e = inputError(step);
    expect(e.field).toBe('steps[0].actions[0].deleteAuthorizationPolicy');
    expect(e.reason).toMatch(/does not exist/);
  });
  it('HTTP probes: TCP only, valid paths and headers', () => {
    const probe = (p: string) => `${base}steps:\n  - probes: [${p}]\n`;
    expect(inputError(probe('{ port: 80, protocol: UDP, http: {} }')).field).toBe('steps[0].probes[0].http');
    expect(inputError(probe('{ port: 80, http: { path: "no-slash" } }')).field).toBe(
      'steps[0].probes[0].http.path',
    );
    expect(inputError(probe('{ port: 80, http: { path: "/a b" } }')).field).toBe(
      'steps[0].probes[0].http.path',
    );
    expect(inputError(probe('{ port: 80, http: { headers: { Host: x } } }')).reason).toMatch(/host/);
    expect(inputError(probe('{ port: 80, http: { headers: { "bad header": x } } }')).reason).toMatch(
      /header name/,
    );
  });
  it('files: policies read from YAML next to the scenario; errors name the policy file', () => {
    writeFileSync(
      join(dir, 'ap.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: f, namespace: x }\nspec: { action: DENY, rules: [{}] }\n',
    );
    const s = parseScenario(file, `${base}authorizationPolicies: [{ file: ap.yaml }]\n`);
    expect(s.initial.authorizationPolicies?.map((p) => p.metadata.name)).toEqual(['f']);
    writeFileSync(
      join(dir, 'bad.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: f }\nspec: { action: NOPE }\n',
    );
    try {
      parseScenario(file, `${base}authorizationPolicies: [{ file: bad.yaml }]\n`);
      throw new Error('expected an InputError');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).file).toBe(join(dir, 'bad.yaml'));
      expect((e as InputError).field).toBe('spec.action');
    }
    expect(inputError(`${base}authorizationPolicies: [{ file: missing.yaml }]\n`).field).toBe(
      'authorizationPolicies[0].file',
    );
  });
});

describe('resolved state', () => {
  it('keeps old scenarios unchanged: no authz fields unless given', () => {
    const s = parseScenario(file, base.replace(', serviceAccount: sa-a', '').replace(', sidecar: false', ''));
    expect(s.initial.authorizationPolicies).toBeUndefined();
    expect(s.initial.meshRootNamespace).toBeUndefined();
    expect(s.initial.pods.every((p) => !('serviceAccount' in p) && !('sidecar' in p))).toBe(true);
  });
  it('root-namespace policies need no namespace declaration; steps create, update, delete', () => {
    const text = `${withAP(ap('{ action: DENY, rules: [{}] }', '{ name: r, namespace: istio-system }'))}steps:
  - actions: [{ createAuthorizationPolicy: { apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: { name: q, namespace: x }, spec: {} } }]
  - actions: [{ updateAuthorizationPolicy: { apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: { name: q, namespace: x }, spec: { rules: [{}] } } }]
  - actions: [{ deleteAuthorizationPolicy: { namespace: istio-system, name: r } }]
`;
    const s = parseScenario(file, text);
    const states = statesPerStep(s.initial, s.steps);
    expect(
      states.map((st) => st.authorizationPolicies!.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)),
    ).toEqual([['istio-system/r', 'x/q'], ['istio-system/r', 'x/q'], ['x/q']]);
    expect(states[1]!.authorizationPolicies![1]!.spec.rules).toEqual([{}]);
    const custom = parseScenario(file, `${base}meshRootNamespace: mesh-root\n`);
    expect(custom.initial.meshRootNamespace).toBe('mesh-root');
    expect(
      inputError(
        `${base}meshRootNamespace: mesh-root\nauthorizationPolicies:\n${ap('{}', '{ name: r, namespace: istio-system }')}`,
      ).reason,
    ).toMatch(/not declared/);
  });
});

describe('combined L3 × L7 verdicts and tables', () => {
  const text = `${base}policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: only-x, namespace: x }
    spec: { podSelector: { matchLabels: { app: b } }, ingress: [{ from: [{ podSelector: {} }] }] }
authorizationPolicies:
${ap('{ selector: { matchLabels: { app: b } }, rules: [{ to: [{ operation: { methods: [GET] } }] }] }')}`;
  const s = parseScenario(file, text);
  const st = s.initial;
  it('builds the request the sidecar sees: identity from the service account, plaintext without a sidecar', () => {
    expect(
      requestFor(st, { from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP' }, { method: 'GET', path: '/' }),
    ).toEqual({
      source: { principal: 'cluster.local/ns/x/sa/sa-a', namespace: 'x', ip: '10.1.1.10' },
      port: 80,
      protocol: 'HTTP',
      method: 'GET',
      path: '/',
      host: '10.1.2.10',
      headers: {},
    });
    expect(requestFor(st, { from: 'x/b', to: 'x/a', port: 81, protocol: 'TCP' })).toEqual({
      source: { principal: 'cluster.local/ns/x/sa/default', namespace: 'x', ip: '10.1.2.10' },
      port: 81,
      protocol: 'TCP',
    });
    expect(
      requestFor(st, { from: 'y/c', to: 'x/b', port: 81, protocol: 'TCP' }, { method: 'GET', path: '/' })
        ?.source,
    ).toEqual({ ip: '10.1.1.11' });
    expect(
      requestFor(st, { from: 'y/c', to: 'x/b', port: 81, protocol: 'TCP' }, { method: 'GET', path: '/' })
        ?.host,
    ).toBe('10.1.2.10:81');
  });
  it('names the deciding layer', () => {
    const get = { method: 'GET', path: '/' };
    const post = { method: 'POST', path: '/' };
    const f = (from: string) => ({ from, to: 'x/b', port: 80, protocol: 'TCP' as const });
    expect(combinedVerdict(st, f('x/a'), requestFor(st, f('x/a'), get))).toMatchObject({
      allowed: true,
      layer: undefined,
    });
    const l7 = combinedVerdict(st, f('x/a'), requestFor(st, f('x/a'), post));
    expect(l7).toMatchObject({ allowed: false, layer: 'L7', l7: { denial: 403 } });
    expect(l7.reason).toMatch(/allowed at L3; denied at L7: ALLOW policies x\/p/);
    const l3 = combinedVerdict(st, f('y/c'), requestFor(st, f('y/c'), get));
    expect(l3).toMatchObject({ allowed: false, layer: 'L3' });
    expect(l3.l7).toBeUndefined();
    // none+l7: L3 not enforced, so the same request reaches the sidecar
    expect(combinedVerdict(st, f('y/c'), requestFor(st, f('y/c'), post), layersOf('none+l7'))).toMatchObject({
      allowed: false,
      layer: 'L7',
    });
    expect(combinedVerdict(st, f('y/c'), requestFor(st, f('y/c'), get), layersOf('none+l7'))).toMatchObject({
      allowed: true,
    });
    // a destination without a sidecar is never denied at L7
    expect(combinedVerdict(st, { from: 'x/a', to: 'y/c', port: 80, protocol: 'TCP' })).toMatchObject({
      allowed: true,
      reason: expect.stringMatching(/no sidecar/),
    });
  });
  it('tables per mode', () => {
    const probe = { port: 80, protocol: 'TCP' as const, http: { method: 'POST', path: '/' } };
    const rows = (mode: string) => tableToJSON(l7TruthTable(st, probe, { layers: layersOf(mode) })).rows;
    // from/to order: x/a x/b y/c
    expect(rows('native+l7')).toEqual(['-7.', '.-.', '.X-']);
    expect(rows('none+l7')).toEqual(['-7.', '.-.', '.7-']);
    expect(rows('native')).toEqual(['-..', '.-.', '.X-']);
    expect(rows('none')).toEqual(['-..', '.-.', '..-']);
    expect(layersOf('overlay+l7')).toEqual({ l3: true, l7: true });
    expect(layersOf('overlay')).toEqual({ l3: true, l7: false });
  });
  it('a TCP probe under ALLOW-with-methods is denied at L7 (the rule is dropped)', () => {
    const t = l7TruthTable(st, { port: 81, protocol: 'TCP', from: ['x/a'], to: ['x/b'] });
    expect(t.cells).toEqual([['7']]);
    expect(t.reason!('x/a', 'x/b')).toMatch(/none matches/);
  });
  it('verify exits 0 on a matching L7 table and 1 on a mismatch', () => {
    const probe = (expected: string) =>
      `${text}steps:\n  - probes:\n      - port: 80\n        http: { method: POST }\n        expected: |\n${expected}`;
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      probe(
        '          -   x/a x/b y/c\n          x/a -   7   .\n          x/b .   -   .\n          y/c .   X   -\n',
      ),
    );
    const r = spawnSync('npx', ['tsx', 'src/cli.ts', 'verify', good], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/1 passed, 0 failed/);
    expect(r.status).toBe(0);
    const bad = join(dir, 'bad-table.yaml');
    writeFileSync(
      bad,
      probe(
        '          -   x/a x/b y/c\n          x/a -   .   .\n          x/b .   -   .\n          y/c .   X   -\n',
      ),
    );
    const ex = spawnSync(
      'npx',
      ['tsx', 'src/cli.ts', 'verify', good, '--explain', 'x/a->x/b:80', '--http', 'POST /x'],
      { encoding: 'utf8' },
    );
    expect(ex.stdout).toMatch(
      /L3 x L7 \(POST \/x\): DENIED at L7: allowed at L3; denied at L7: ALLOW policies x\/p/,
    );
    const tcp = spawnSync('npx', ['tsx', 'src/cli.ts', 'verify', good, '--explain', 'y/c->x/b:81'], {
      encoding: 'utf8',
    });
    expect(tcp.stdout).toMatch(/L3 x L7 \(TCP\): DENIED at L3/);
    const usage = spawnSync('npx', ['tsx', 'src/cli.ts', 'verify', good, '--http', 'GET /'], {
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--http needs --explain/);
    const r2 = spawnSync('npx', ['tsx', 'src/cli.ts', 'verify', bad], { encoding: 'utf8' });
    expect(r2.stdout).toMatch(/mismatch x\/a -> x\/b: expected \. got 7/);
    expect(r2.status).toBe(1);
  });
});

describe('tallyByLayer', () => {
  it('counts agreement per expected verdict, skipping self cells and cells the caller leaves out', async () => {
    const { tallyByLayer } = await import('../../src/policy/diff.ts');
    const t = (rows: string[]) => ({
      kind: 'combined' as const,
      port: 80,
      protocol: 'TCP' as const,
      from: ['a', 'b', 'c'],
      to: ['a', 'b', 'c'],
      cells: rows.map((r) => [...r] as ('.' | 'X' | '7' | '-')[]),
    });
    const expected = t(['-X7', '.-7', '..-']);
    const observed = t(['-.7', '.-X', '..-']);
    expect(tallyByLayer(expected, observed)).toEqual({
      allowed: { passed: 3, failed: 0 },
      l3: { passed: 0, failed: 1 },
      l7: { passed: 1, failed: 1 },
    });
    expect(tallyByLayer(expected, observed, undefined, (f, to) => f === 'b' && to === 'c').l7).toEqual({
      passed: 1,
      failed: 0,
    });
  });
});

describe('report: conformance by layer', () => {
  it('adds allowed / L3 / L7 columns when a record carries byLayer, and keeps the old table otherwise', async () => {
    const { buildTables } = await import('../../src/report/tables.ts');
    const { analyze } = await import('../../src/report/analyze.ts');
    const { syntheticRun } = await import('./results.fixture.ts');
    const run = syntheticRun();
    const plain = buildTables(run, analyze(run, { iterations: 50 })).find((t) => t.id === 'conformance')!;
    expect(plain.columns).toEqual(['mode', 'passed', 'failed', 'unsupported', 'total', 'source']);
    run.conformance.push({
      mode: 'native+l7',
      passed: 9,
      failed: 1,
      unsupported: 0,
      total: 10,
      source: 'l7',
      byLayer: {
        allowed: { passed: 5, failed: 0 },
        l3: { passed: 2, failed: 0 },
        l7: { passed: 2, failed: 1 },
      },
    });
    const t = buildTables(run, analyze(run, { iterations: 50 })).find((t) => t.id === 'conformance')!;
    expect(t.columns).toEqual([
      'mode',
      'passed',
      'failed',
      'unsupported',
      'total',
      'allowed',
      'denied at L3',
      'denied at L7',
      'source',
    ]);
    expect(t.rows.at(-1)).toEqual(['native+l7', '9', '1', '0', '10', '5/5', '2/2', '2/3', 'l7']);
    expect(t.rows[0]!.slice(5, 8)).toEqual(['', '', '']);
  });
});
