// Bad input must fail loudly: InputError naming the file, the field path and the reason; `verify` exits 2.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'scenario-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POD_A = '  - { namespace: x, name: a, node: n1, labels: { pod: a }, ports: [{ port: 80 }] }\n';
const POD_B = '  - { namespace: x, name: b, node: n1, labels: { pod: b }, ports: [{ port: 80 }] }\n';
const scenario = (extra = '', pods = POD_A + POD_B) =>
  `name: t\ntopology:\n  clusters:\n    - name: c1\n      nodes: [{ name: n1 }]\nnamespaces:\n  - { name: x }\npods:\n${pods}${extra}`;
const pol = (spec: string, meta = '{ name: p, namespace: x }') =>
  `policies:\n  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: ${meta}\n    spec:\n${spec}`;

function inputError(text: string, file = join(dir, 's.yaml')): InputError {
  try {
    parseScenario(file, text);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

describe('scenario loader rejects bad input', () => {
  it('malformed YAML', () => {
    const e = inputError('name: t\ntopology: [\n');
    expect(e.reason).toMatch(/malformed YAML/);
    expect(e.message).toContain('s.yaml');
  });
  it('an alias whose anchor is missing', () => {
    const e = inputError(scenario('measurements:\n  - { name: m, kind: udp-rr, ports: *nope }\n'));
    expect(e.reason).toMatch(/malformed YAML: Unresolved alias .*nope/);
  });
  it('unknown fields, at top level and inside a policy', () => {
    expect(inputError(scenario('bogus: 1\n')).reason).toMatch(/bogus/);
    const e = inputError(scenario(pol('      podSelector: {}\n      ingres: []\n')));
    expect(e.field).toBe('policies[0].spec');
    expect(e.reason).toMatch(/ingres/);
  });
  it('bad CIDRs, with the full field path', () => {
    const e = inputError(
      scenario(
        pol(
          '      podSelector: {}\n      ingress:\n        - from:\n            - podSelector: {}\n            - ipBlock: { cidr: 10.0.0.0/33 }\n',
        ),
      ),
    );
    expect(e.field).toBe('policies[0].spec.ingress[0].from[1].ipBlock.cidr');
    expect(e.reason).toMatch(/CIDR/);
    const ex = inputError(
      scenario(
        pol(
          '      podSelector: {}\n      egress:\n        - to:\n            - ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16, banana] }\n',
        ),
      ),
    );
    expect(ex.field).toBe('policies[0].spec.egress[0].to[0].ipBlock.except[1]');
    const outside = inputError(
      scenario(
        pol(
          '      podSelector: {}\n      egress:\n        - to:\n            - ipBlock: { cidr: 10.0.0.0/8, except: [11.0.0.0/16] }\n',
        ),
      ),
    );
    expect(outside.field).toBe('policies[0].spec.egress[0].to[0].ipBlock.except[0]');
    expect(outside.reason).toMatch(/strict subset/);
  });
  it('bad selector operators and values', () => {
    const noValues = inputError(
      scenario(pol('      podSelector: { matchExpressions: [{ key: a, operator: In }] }\n')),
    );
    expect(noValues.field).toBe('policies[0].spec.podSelector.matchExpressions[0].values');
    expect(noValues.reason).toMatch(/In needs a non-empty values/);
    const unknown = inputError(
      scenario(
        pol(
          '      podSelector: {}\n      ingress:\n        - from:\n            - namespaceSelector: { matchExpressions: [{ key: a, operator: Equals, values: [b] }] }\n',
        ),
      ),
    );
    expect(unknown.field).toBe(
      'policies[0].spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator',
    );
    expect(
      inputError(
        scenario(
          pol('      podSelector: { matchExpressions: [{ key: a, operator: Exists, values: [b] }] }\n'),
        ),
      ).reason,
    ).toMatch(/takes no values/);
  });
  it('ipBlock combined with a selector in one peer; endPort with a named port', () => {
    expect(
      inputError(
        scenario(
          pol(
            '      podSelector: {}\n      ingress:\n        - from:\n            - { ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }\n',
          ),
        ),
      ).field,
    ).toBe('policies[0].spec.ingress[0].from[0]');
    expect(
      inputError(
        scenario(
          pol('      podSelector: {}\n      ingress:\n        - ports: [{ port: http, endPort: 90 }]\n'),
        ),
      ).field,
    ).toBe('policies[0].spec.ingress[0].ports[0].endPort');
  });
  it('duplicate pod names', () => {
    const e = inputError(scenario('', POD_A + POD_A));
    expect(e.field).toBe('pods[1].name');
    expect(e.reason).toMatch(/duplicate pod x\/a/);
  });
  it('references to missing namespaces, pods and policies', () => {
    expect(inputError(scenario('', '  - { namespace: q, name: a, node: n1 }\n')).field).toBe(
      'pods[0].namespace',
    );
    const p = inputError(scenario(pol('      podSelector: {}\n', '{ name: p, namespace: q }')));
    expect(p.field).toBe('policies[0]');
    expect(p.reason).toMatch(/namespace 'q'/);
    expect(
      inputError(scenario('steps:\n  - actions:\n      - setPodLabels: { pod: x/zz, labels: {} }\n')).field,
    ).toBe('steps[0].actions[0].setPodLabels');
    expect(inputError(scenario('steps:\n  - probes:\n      - { port: 80, from: [x/zz] }\n')).field).toBe(
      'steps[0].probes[0].from[0]',
    );
  });
  it('a missing policy file names the scenario file and the field', () => {
    const e = inputError(scenario('policies:\n  - file: nope.yaml\n'));
    expect(e.file).toContain('s.yaml');
    expect(e.field).toBe('policies[0].file');
    expect(e.reason).toMatch(/cannot read policy file/);
  });
  it('a missing scenario file', () => {
    expect(() => loadScenario(join(dir, 'absent.yaml'))).toThrow(InputError);
  });
  it('accepts a good scenario with a multi-document policy file', () => {
    writeFileSync(
      join(dir, 'pols.yaml'),
      ['p1', 'p2']
        .map(
          (n) =>
            `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${n}, namespace: x }\nspec: { podSelector: {} }\n`,
        )
        .join('---\n'),
    );
    const s = parseScenario(join(dir, 'good.yaml'), scenario('policies:\n  - file: pols.yaml\n'));
    expect(s.initial.policies.map((p) => p.metadata.name)).toEqual(['p1', 'p2']);
  });
});

describe('testbed verify exit codes', () => {
  const verify = (...args: string[]) =>
    spawnSync('npx', ['tsx', 'src/cli.ts', 'verify', ...args], { encoding: 'utf8', cwd: process.cwd() });
  const probe = (expected: string) =>
    scenario(
      `${pol('      podSelector: { matchLabels: { pod: b } }\n')}steps:\n  - probes:\n      - port: 80\n        expected: |\n${expected}`,
    );

  it('exits 2 on a bad file and names the field', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(
      f,
      scenario(
        pol(
          '      podSelector: {}\n      ingress:\n        - from:\n            - ipBlock: { cidr: 300.0.0.0/8 }\n',
        ),
      ),
    );
    const r = verify(f);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('policies[0].spec.ingress[0].from[0].ipBlock.cidr');
  });
  it('exits 2 on a malformed expected matrix, naming the probe', () => {
    const f = join(dir, 'badmatrix.yaml');
    writeFileSync(f, probe('          - x/a x/b\n          x/a - ?\n          x/b . -\n'));
    const r = verify(f);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/steps\[0\]\.probes\[0\]\.expected: line 2/);
  });
  it('exits 0 when the expectation holds, 1 with the mismatching cell when not', () => {
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, probe('          - x/a x/b\n          x/a - X\n          x/b . -\n'));
    const r0 = verify(ok);
    expect(r0.stdout.trim().split('\n').at(-1)).toBe('1 passed, 0 failed');
    expect(r0.status).toBe(0);
    const bad = join(dir, 'wrong.yaml');
    writeFileSync(bad, probe('          - x/a x/b\n          x/a - .\n          x/b . -\n'));
    const r1 = verify(bad);
    expect(r1.status).toBe(1);
    expect(r1.stdout).toMatch(/mismatch x\/a -> x\/b: expected \. got X: .*x\/p/);
    expect(r1.stdout.trim().split('\n').at(-1)).toBe('0 passed, 1 failed');
  });
});

describe('verify argument helpers', async () => {
  const { parseFlow, scenarioFiles } = await import('../../src/commands/verify.ts');
  it('parses --explain flows, with endpoints of every kind', () => {
    expect(parseFlow('x/a->y/b:80')).toEqual({ from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' });
    expect(parseFlow('ext:out->y/b:serve-80-udp/udp')).toEqual({
      from: 'ext:out',
      to: 'y/b',
      port: 'serve-80-udp',
      protocol: 'UDP',
    });
    expect(parseFlow('x/a->ext:out:443/SCTP')).toEqual({
      from: 'x/a',
      to: 'ext:out',
      port: 443,
      protocol: 'SCTP',
    });
    expect(() => parseFlow('x/a->ext:out')).toThrow(/not an endpoint/);
    expect(() => parseFlow('x/a->y/b:80/ICMP')).toThrow(/unknown protocol/);
    expect(() => parseFlow('x/a y/b 80')).toThrow(/expected/);
  });
  it('walks directories for scenarios and skips policy-only files', () => {
    const sub = join(dir, 'tree', 'deep');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'one.yaml'), scenario());
    writeFileSync(join(dir, 'tree', 'two.yml'), scenario());
    writeFileSync(join(dir, 'tree', 'notes.txt'), 'x');
    writeFileSync(
      join(sub, 'policy.yaml'),
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p }\nspec: { podSelector: {} }\n',
    );
    expect(scenarioFiles([join(dir, 'tree')]).map((f) => f.slice(dir.length))).toEqual([
      '/tree/deep/one.yaml',
      '/tree/two.yml',
    ]);
    expect(() => scenarioFiles([join(dir, 'nothing-here')])).toThrow(InputError);
  });
});
