// The conformance suite as an oracle for the engine: every probe of every scenario under scenarios/conformance/
// carries an expected matrix derived by hand from the Kubernetes NetworkPolicy documentation, and the engine's
// combined truth table must reproduce it cell for cell. The matrix is parsed here independently of
// truthtable.ts so a bug in the engine's own comparison cannot hide a disagreement.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileState } from '../../src/policy/compile.ts';
import { truthTables } from '../../src/policy/truthtable.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';

const DIR = join(import.meta.dirname, '../../scenarios/conformance');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

interface Matrix {
  to: string[];
  from: string[];
  cells: string[][];
}

function parseMatrix(text: string): Matrix {
  const rows = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).filter(Boolean))
    .filter((r) => r.length > 0);
  const [header, ...body] = rows;
  if (!header || header[0] !== '-') throw new Error(`matrix header must start with '-': ${text}`);
  return { to: header.slice(1), from: body.map((r) => r[0]!), cells: body.map((r) => r.slice(1)) };
}

describe('conformance suite shape', () => {
  it('has at least 45 scenarios, each with steps and an expected matrix on every probe', () => {
    expect(files.length).toBeGreaterThanOrEqual(45);
    for (const f of files) {
      const s = loadScenario(join(DIR, f));
      expect(s.steps.length, f).toBeGreaterThan(0);
      for (const step of s.steps) {
        expect(step.probes.length, `${f}: ${step.name}`).toBeGreaterThan(0);
        for (const p of step.probes)
          expect(p.expected, `${f}: ${step.name} ${p.port}/${p.protocol}`).toBeDefined();
      }
    }
  });
});

describe.each(files)('%s', (file) => {
  const scenario = loadScenario(join(DIR, file));
  const states = statesPerStep(scenario.initial, scenario.steps);
  const cases = scenario.steps.flatMap((step, si) =>
    step.probes.map((probe, pi) => ({
      label: `step ${si + 1} (${step.name}) probe ${pi + 1} ${probe.port}/${probe.protocol}`,
      si,
      probe,
    })),
  );

  it.each(cases)('$label', ({ si, probe }) => {
    const expected = parseMatrix(probe.expected!);
    const { combined } = truthTables(compileState(states[si]!), probe);
    // The matrix must name exactly the probe's endpoints, in the probe's order, so a misplaced row cannot pass.
    expect(expected.to).toEqual(combined.to);
    expect(expected.from).toEqual(combined.from);
    const diffs: string[] = [];
    expected.from.forEach((src, i) =>
      expected.to.forEach((dst, j) => {
        const want = expected.cells[i]![j];
        if (src === dst) {
          // A pod reaching itself is undefined by the spec: the suite marks it '-' and never compares it.
          if (want !== '-') diffs.push(`${src} -> ${dst}: self cell must be '-', found '${want}'`);
          return;
        }
        const got = combined.cells[i]![j];
        if (want !== got)
          diffs.push(
            `${src} -> ${dst}: expected ${want}, engine ${got}: ${combined.reason?.(src, dst) ?? ''}`,
          );
      }),
    );
    expect(diffs).toEqual([]);
  });
});
