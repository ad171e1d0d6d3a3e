// The L7 conformance suite as an oracle for the AuthorizationPolicy engine: every probe of every scenario under
// scenarios/conformance-l7/ carries an expected matrix derived by hand from the Istio documentation (cells `.`,
// `X` denied at L3, `7` denied at L7, `-` self), and the combined L3 × L7 table must reproduce it cell for
// cell. The matrix is parsed here independently of truthtable.ts.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { l7TruthTable } from '../../src/policy/authz/table.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';

const DIR = join(import.meta.dirname, '../../scenarios/conformance-l7');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function parseMatrix(text: string) {
  const rows = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).filter(Boolean))
    .filter((r) => r.length > 0);
  const [header, ...body] = rows;
  if (!header || header[0] !== '-') throw new Error(`matrix header must start with '-': ${text}`);
  return { to: header.slice(1), from: body.map((r) => r[0]!), cells: body.map((r) => r.slice(1)) };
}

describe('L7 conformance suite shape', () => {
  it('has at least 30 scenarios, each with an expected matrix on every probe, covering HTTP, TCP, L3 and L7 denials', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    const seen = new Set<string>();
    for (const f of files) {
      const s = loadScenario(join(DIR, f));
      expect(s.steps.length, f).toBeGreaterThan(0);
      for (const step of s.steps)
        for (const p of step.probes) {
          expect(p.expected, `${f}: ${step.name}`).toBeDefined();
          seen.add(p.http ? 'http' : 'tcp');
          for (const c of p.expected!.split(/\s+/)) if (c === 'X' || c === '7' || c === '.') seen.add(c);
        }
    }
    expect([...seen].sort()).toEqual(['.', '7', 'X', 'http', 'tcp']);
  });
});

describe.each(files)('%s', (file) => {
  const scenario = loadScenario(join(DIR, file));
  const states = statesPerStep(scenario.initial, scenario.steps);
  const cases = scenario.steps.flatMap((step, si) =>
    step.probes.map((probe, pi) => ({
      label: `step ${si + 1} (${step.name}) probe ${pi + 1} ${probe.port}/${probe.protocol}${probe.http ? ` ${probe.http.method} ${probe.http.path}` : ''}`,
      si,
      probe,
    })),
  );
  // Without NetworkPolicies nothing is denied at L3, so the file's table is also the none+l7 table (README).
  const noL3 = states.every((st) => st.policies.length === 0);
  it.each(cases)('$label', ({ si, probe }) => {
    if (noL3) {
      const none = l7TruthTable(states[si]!, probe, { layers: { l3: false, l7: true } });
      expect(none.cells).toEqual(l7TruthTable(states[si]!, probe).cells);
    }
    const expected = parseMatrix(probe.expected!);
    const table = l7TruthTable(states[si]!, probe);
    expect(expected.to).toEqual(table.to);
    expect(expected.from).toEqual(table.from);
    const diffs: string[] = [];
    expected.from.forEach((src, i) =>
      expected.to.forEach((dst, j) => {
        const want = expected.cells[i]![j];
        if (src === dst) {
          if (want !== '-') diffs.push(`${src} -> ${dst}: self cell must be '-', found '${want}'`);
          return;
        }
        const got = table.cells[i]![j];
        if (want !== got)
          diffs.push(`${src} -> ${dst}: expected ${want}, engine ${got}: ${table.reason?.(src, dst) ?? ''}`);
      }),
    );
    expect(diffs).toEqual([]);
  });
});
