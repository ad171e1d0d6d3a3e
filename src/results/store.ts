// Reading and writing a run directory. Writes are atomic (temp file in the same directory, fsync, rename) so a
// reader never sees half a file, and a crash mid-write leaves the previous complete version.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { formatPath } from '../scenario/load.ts';
import { runResultsSchema, type RunResults } from './schema.ts';

export const RESULTS_FILE = 'results.json';

/** UTC timestamp (sortable) plus a short random suffix so two runs started in the same second differ. */
export function newRunId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${ts}-${randomBytes(3).toString('hex')}`;
}

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // fsync the directory so the rename itself is durable.
  try {
    const dfd = openSync(join(file, '..'), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Validates and writes; a record that does not fit the schema is a bug, so it throws before touching disk. */
export function writeResults(runDir: string, results: RunResults): string {
  const parsed = runResultsSchema.safeParse(results);
  const file = join(runDir, RESULTS_FILE);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`refusing to write ${file}: ${formatPath(issue.path)}: ${issue.message}`);
  }
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(file, JSON.stringify(parsed.data, null, 1) + '\n');
  return file;
}

/** Accepts a run directory or the results.json inside it. */
export function resultsFile(runDirOrFile: string): string {
  if (existsSync(runDirOrFile) && statSync(runDirOrFile).isDirectory()) return join(runDirOrFile, RESULTS_FILE);
  return runDirOrFile;
}

export function readResults(runDirOrFile: string): RunResults {
  const file = resultsFile(runDirOrFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, '', `cannot read results: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, '', `malformed JSON: ${(e as Error).message}`);
  }
  const parsed = runResultsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(file, formatPath(issue.path), issue.message);
  }
  return parsed.data;
}
