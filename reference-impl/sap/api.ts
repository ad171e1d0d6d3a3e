// The local control API every agent and SaP serves on a unix socket (../CONTRACT.md): PUT /config, GET /status.
import http from 'node:http';
import { existsSync, unlinkSync } from 'node:fs';

export class ConflictError extends Error {}

/**
 * `tcp://HOST:PORT` selects a TCP listener instead of a unix socket: on Kubernetes the control plane runs in
 * another pod and reaches agents and SaPs over the pod network (see ../k8s/). Anything else is a socket path.
 */
export function tcpAddress(api: string): { host: string; port: number } | undefined {
  const m = api.match(/^tcp:\/\/(.+):(\d+)$/);
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
}

export interface ApiHandlers {
  /** Current version in force (0 before the first config). */
  version(): number;
  counters(): Record<string, number>;
  /** Applies a config already known to be newer; throws to reject (ConflictError → 409, else 400). */
  apply(body: unknown): Promise<void>;
}

const started = Date.now();

export function serveApi(socketPath: string, h: ApiHandlers): Promise<http.Server> {
  const tcp = tcpAddress(socketPath);
  if (!tcp && existsSync(socketPath)) unlinkSync(socketPath);
  // Pushes are applied one at a time so version checks and apply never interleave.
  let queue: Promise<unknown> = Promise.resolve();
  // Open GET /watch streams: each gets a line now and one after every applied version (../CONTRACT.md).
  const watchers = new Set<http.ServerResponse>();
  const announce = (res: http.ServerResponse): void => {
    res.write(`${JSON.stringify({ version: h.version(), pid: process.pid })}\n`);
  };
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/watch') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      watchers.add(res);
      res.on('close', () => watchers.delete(res));
      announce(res);
      return;
    }
    if (req.method === 'GET' && req.url === '/status') {
      reply(200, {
        version: h.version(),
        counters: h.counters(),
        uptimeMs: Date.now() - started,
        pid: process.pid,
      });
      return;
    }
    if (req.method === 'PUT' && req.url === '/config') {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 << 20) chunks.push(c);
      });
      req.on('end', () => {
        queue = queue.then(async () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reply(400, { error: 'body is not JSON' });
          }
          const v = (body as { version?: unknown } | null)?.version;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
            return reply(400, { error: 'version: positive integer required' });
          if (v <= h.version()) return reply(200, { version: h.version(), applied: false });
          try {
            const t0 = performance.now();
            await h.apply(body);
            // applyMs: the process's own share of programming latency (parse, render, write), for reports.
            reply(200, { version: h.version(), applied: true, applyMs: performance.now() - t0 });
            for (const w of watchers) announce(w);
          } catch (e) {
            reply(e instanceof ConflictError ? 409 : 400, {
              error: e instanceof Error ? e.message : String(e),
            });
          }
        });
      });
      return;
    }
    reply(404, { error: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (tcp) server.listen(tcp.port, tcp.host, () => resolve(server));
    else server.listen(socketPath, () => resolve(server));
  });
}

/** Minimal argv parsing shared by the two mains: --key value pairs. */
export function parseArgs(argv: string[], allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (!k.startsWith('--') || !allowed.includes(k.slice(2)) || v === undefined) {
      process.stderr.write(`usage: ${allowed.map((a) => `--${a} VALUE`).join(' ')} (bad argument: ${k})\n`);
      process.exit(2);
    }
    out[k.slice(2)] = v;
  }
  return out;
}

/**
 * dgram resolves even literal addresses through dns.lookup, which defers every send by a tick and allocates
 * closures. Configs only carry IPv4 literals, so resolution is the identity, done synchronously. Sends without a
 * callback report errors through the socket's 'error' event (counted as txError).
 */
export function literalLookup(
  host: string,
  _opts: unknown,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  cb(null, host, 4);
}
