import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { newRunId, readResults, writeResults } from '../../src/results/store.ts';
import { syntheticRun } from './results.fixture.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'results-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('results store', () => {
  it('run ids sort by time and differ within one second', () => {
    const t = new Date('2026-11-26T16:00:00.123Z');
    const a = newRunId(t);
    expect(a).toMatch(/^20261126T160000Z-[0-9a-f]{6}$/);
    expect(newRunId(t)).not.toBe(a);
    expect(newRunId(new Date('2026-11-26T16:00:01Z')) > a).toBe(true);
  });
  it('round-trips a run and leaves no temp files', () => {
    const dir = join(tmp(), 'run');
    const run = syntheticRun();
    writeResults(dir, run);
    expect(readdirSync(dir)).toEqual(['results.json']);
    expect(readResults(dir)).toEqual(run);
  });
  it('refuses to write an invalid record', () => {
    const dir = tmp();
    const run = syntheticRun();
    (run.records[0] as { repetition: number }).repetition = -1;
    expect(() => writeResults(dir, run)).toThrow(/records\[0\]\.repetition/);
    expect(readdirSync(dir)).toEqual([]);
  });
  it('a bad results file is an InputError naming the file and the field', () => {
    const dir = tmp();
    writeResults(dir, syntheticRun());
    const file = join(dir, 'results.json');
    const data = JSON.parse(readFileSync(file, 'utf8'));
    data.records[3].latency.unit = 'ms';
    writeFileSync(file, JSON.stringify(data));
    try {
      readResults(dir);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).file).toBe(file);
      expect((e as InputError).field).toBe('records[3].latency.unit');
    }
    writeFileSync(file, '{ not json');
    expect(() => readResults(file)).toThrow(/malformed JSON/);
    expect(() => readResults(join(dir, 'missing'))).toThrow(InputError);
  });
});
