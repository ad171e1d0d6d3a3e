// Running a CLI (kind, docker, kubectl, helm) with a hard time limit and a readable failure. Injected into the
// lifecycle code so tests can stand in a fake without touching PATH.
import { execFile } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The spawn error (ENOENT when the program is not installed). */
  error?: string;
  timedOut?: boolean;
}

export type CliRunner = (
  argv: string[],
  opts: { timeoutMs: number; input?: string; env?: Record<string, string> },
) => Promise<CliResult>;

export const runCli: CliRunner = (argv, opts) =>
  new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      {
        timeout: opts.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : 127) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
          ...(e && typeof e.code === 'string' ? { error: e.code } : {}),
          ...(e?.killed ? { timedOut: true } : {}),
        });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });

/** Throws naming the command, what it was for, and the tool's own last line of stderr. */
export async function mustRun(
  run: CliRunner,
  argv: string[],
  what: string,
  opts: { timeoutMs: number; input?: string; env?: Record<string, string> },
): Promise<string> {
  const r = await run(argv, opts);
  if (r.timedOut)
    throw new Error(
      `${what}: '${argv.slice(0, 3).join(' ')}' did not finish within ${Math.round(opts.timeoutMs / 1000)} s`,
    );
  if (r.code !== 0) {
    const last = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
    throw new Error(`${what}: '${argv.slice(0, 3).join(' ')}' failed (${r.error ?? r.code}): ${last}`);
  }
  return r.stdout;
}
