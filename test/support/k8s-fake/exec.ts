// The pod exec endpoint of the fake: `GET /api/v1/namespaces/NS/pods/POD/exec?command=..&container=..&stdout=1`
// upgraded to a WebSocket speaking the `v4.channel.k8s.io` protocol, as the kubelet streams it through the API
// server: every binary frame starts with a channel byte (1 stdout, 2 stderr, 3 status), the status frame carries
// a v1 Status JSON (Success, or Failure with reason NonZeroExitCode and the exit code in details.causes), and
// the server closes the socket after it.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FakeStore } from './store.ts';
import { ApiError } from './store.ts';

export interface ExecRequest {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
}

export interface ExecResult {
  stdout?: string | Buffer;
  stderr?: string | Buffer;
  /** Exit code; 0 = Success. */
  code: number;
}

/**
 * Answers one exec. May be async; throwing sends a Failure status with reason InternalError and the error's
 * message (what the kubelet does when the runtime cannot start the command).
 */
export type ExecHandler = (
  namespace: string,
  pod: string,
  container: string,
  argv: string[],
) => ExecResult | Promise<ExecResult>;

export const EXEC_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];

export function execStatus(r: ExecResult, argv: string[]): Record<string, unknown> {
  if (r.code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${r.code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(r.code) }] },
  };
}

const frame = (channel: number, data: string | Buffer) =>
  Buffer.concat([Buffer.from([channel]), typeof data === 'string' ? Buffer.from(data) : data]);

export class ExecEndpoint {
  handler: ExecHandler = () => ({ stderr: 'fake: no exec handler installed\n', code: 126 });
  readonly open = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });

  constructor(private readonly store: FakeStore) {}

  /** Parses the exec URL; undefined when the path is not an exec path. */
  static parse(url: URL): ExecRequest | undefined {
    const m = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/);
    if (!m) return undefined;
    return {
      namespace: decodeURIComponent(m[1]!),
      pod: decodeURIComponent(m[2]!),
      container: url.searchParams.get('container') ?? '',
      argv: url.searchParams.getAll('command'),
    };
  }

  /** Validates like the API server before upgrading: the pod must exist and be Running, the container known. */
  check(r: ExecRequest): void {
    const pod = this.store.get('pods', r.namespace, r.pod);
    const containers = ((pod.spec?.containers as { name: string }[] | undefined) ?? []).map((c) => c.name);
    if (r.container === '' && containers.length > 1)
      throw new ApiError(
        400,
        'BadRequest',
        `a container name must be specified for pod ${r.pod}, choose one of: [${containers.join(' ')}]`,
      );
    if (r.container !== '' && !containers.includes(r.container))
      throw new ApiError(400, 'BadRequest', `container ${r.container} is not valid for pod ${r.pod}`);
    if ((pod.status as { phase?: string } | undefined)?.phase !== 'Running')
      throw new ApiError(400, 'BadRequest', `unable to upgrade connection: pod ${r.pod} is not running`);
    if (r.argv.length === 0) throw new ApiError(400, 'BadRequest', 'you must specify at least 1 command');
  }

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, r: ExecRequest): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.open.add(ws);
      ws.on('close', () => this.open.delete(ws));
      const container =
        r.container ||
        (((this.store.get('pods', r.namespace, r.pod).spec?.containers as { name: string }[]) ?? [])[0]
          ?.name ??
          '');
      void (async () => {
        let result: ExecResult;
        try {
          result = await this.handler(r.namespace, r.pod, container, r.argv);
        } catch (e) {
          if (ws.readyState !== ws.OPEN) return;
          const message = e instanceof Error ? e.message : String(e);
          ws.send(
            frame(3, JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError' })),
          );
          ws.close(1000);
          return;
        }
        if (ws.readyState !== ws.OPEN) return;
        if (result.stdout !== undefined && result.stdout.length > 0) ws.send(frame(1, result.stdout));
        if (result.stderr !== undefined && result.stderr.length > 0) ws.send(frame(2, result.stderr));
        ws.send(frame(3, JSON.stringify(execStatus(result, r.argv))));
        ws.close(1000);
      })();
    });
  }

  /** Cuts every open exec stream without a status frame (a kubelet or network failure mid-stream). */
  dropAll(): void {
    for (const ws of this.open) ws.terminate();
  }

  close(): void {
    this.dropAll();
    this.wss.close();
  }
}
