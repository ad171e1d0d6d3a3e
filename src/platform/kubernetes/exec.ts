// Exec in a pod over the API server's WebSocket channel protocol (client-node's Exec): collects stdout and
// stderr, reads the exit code from the closing Status, and gives up after a limit by closing the stream.
import { Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import { apiMessage } from './client.ts';
import { ExecError, type ExecOutcome } from './exec-types.ts';

/** Exit code from an exec Status: Success → 0, NonZeroExitCode → details.causes[ExitCode]. */
export function exitCodeOf(s: V1Status): number | undefined {
  if (s.status === 'Success') return 0;
  if (s.reason !== 'NonZeroExitCode') return undefined;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : undefined;
}

interface SocketLike {
  close(): void;
  terminate?(): void;
  on(ev: string, fn: (...a: unknown[]) => void): void;
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/**
 * Runs a command in a container. Resolves with its exit code and output; a timeout closes the stream and
 * resolves with timedOut. Rejects with ExecError when the command could not be run (no exit status).
 */
export function execInPod(
  execer: Exec,
  {
    namespace,
    pod,
    container,
    argv,
    timeoutMs,
  }: { namespace: string; pod: string; container: string; argv: string[]; timeoutMs: number },
): Promise<ExecOutcome> {
  const out = new Collect();
  const err = new Collect();
  return new Promise<ExecOutcome>((resolve, reject) => {
    let status: V1Status | undefined;
    let settled = false;
    let socket: SocketLike | undefined;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => {
      finish(() => resolve({ code: 124, stdout: out.text, stderr: err.text, timedOut: true }));
      try {
        if (socket?.terminate) socket.terminate();
        else socket?.close();
      } catch {
        // already closed
      }
    }, timeoutMs);
    execer
      .exec(namespace, pod, container, argv, out, err, null, false, (s) => {
        status = s;
      })
      .then((ws) => {
        const s = ws as unknown as SocketLike;
        socket = s;
        if (settled) return s.close(); // timed out while connecting
        s.on('close', () =>
          // The status frame arrives before the server closes; give the stream callbacks a turn to flush.
          setImmediate(() =>
            finish(() => {
              if (!status)
                return reject(
                  new ExecError(
                    `exec in ${namespace}/${pod}/${container}: stream closed without an exit status`,
                  ),
                );
              const code = exitCodeOf(status);
              if (code === undefined)
                return reject(
                  new ExecError(
                    `exec in ${namespace}/${pod}/${container}: ${status.reason ?? status.status}: ${status.message ?? ''}`.trim(),
                  ),
                );
              resolve({ code, stdout: out.text, stderr: err.text });
            }),
          ),
        );
        s.on('error', (e) =>
          finish(() =>
            reject(new ExecError(`exec in ${namespace}/${pod}/${container}: ${(e as Error).message}`)),
          ),
        );
      })
      .catch((e: unknown) =>
        finish(() => reject(new ExecError(`exec in ${namespace}/${pod}/${container}: ${apiMessage(e)}`))),
      );
  });
}
