// Control plane as a process: `tsx reference-impl/control-plane/main.ts --api SOCK --store FILE`.
//
// FILE (JSON) is its whole durable state, as etcd would be for a real controller: {state, topology?, sockets,
// keys?}. `sockets` maps every SaP id and agent endpoint ref to that process's API socket. On start it adopts the
// highest config version the running processes report (so its first push is newer than what is in force),
// programs the state, and then keeps every process on the current version (a restarted agent or SaP comes
// back at version 0 and is re-pushed within one reconcile period). Killing it changes nothing in the data
// path: agents and SaPs keep enforcing the last version, so traffic never fails open.
//
// API (HTTP over the unix socket): GET /status → {version, processes, inForce}; PUT /state {state} → program;
// POST /rotate → key rotation. SIGTERM/SIGINT: stop, remove the socket, exit 0.
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from '../sap/api.ts';
import type { ClusterState } from '../../src/policy/model.ts';
import type { Topology } from '../../src/scenario/types.ts';
import type { KeyState } from './compile.ts';
import { newOverlay } from './keys.ts';
import { ControlPlane, getStatus } from './server.ts';

interface Store {
  state: ClusterState;
  topology?: Pick<Topology, 'clusters'>;
  sockets: Record<string, string>;
  keys?: KeyState;
}

const args = parseArgs(process.argv.slice(2), ['api', 'store', 'reconcile-ms']);
if (!args.api || !args.store) {
  process.stderr.write('usage: control-plane/main.ts --api SOCKET --store FILE [--reconcile-ms N]\n');
  process.exit(2);
}
const storePath = args.store;

function save(store: Store): void {
  const tmp = `${storePath}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(store));
  fs.renameSync(tmp, storePath);
}

const store = JSON.parse(fs.readFileSync(storePath, 'utf8')) as Store;
if (!store.keys) {
  store.keys = newOverlay();
  save(store);
}
const cp = new ControlPlane({ keys: store.keys, topology: store.topology });
for (const [id, sock] of Object.entries(store.sockets)) cp.sockets.set(id, sock);

async function adoptVersion(): Promise<void> {
  const versions = await Promise.all(
    [...cp.sockets.values()].map((s) =>
      getStatus(s, 1000).then(
        (st) => st.version,
        () => 0,
      ),
    ),
  );
  cp.version = Math.max(0, ...versions);
}

let busy: Promise<unknown> = Promise.resolve();
const serial = <T>(f: () => Promise<T>): Promise<T> => {
  const p = busy.then(f, f);
  busy = p.catch(() => undefined);
  return p;
};

const server = http.createServer((req, res) => {
  const reply = (code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const fail = (e: unknown) => reply(500, { error: e instanceof Error ? e.message : String(e) });
    if (req.method === 'GET' && req.url === '/status') {
      const ids = [...cp.sockets.keys()];
      void Promise.all(
        ids.map((id) =>
          getStatus(cp.sockets.get(id)!, 1000).then(
            (s) => s.version,
            () => -1,
          ),
        ),
      ).then((v) => {
        const processes = Object.fromEntries(ids.map((id, i) => [id, v[i]]));
        reply(200, {
          version: cp.version,
          processes,
          inForce: v.every((x) => x >= cp.version),
          pid: process.pid,
        });
      }, fail);
    } else if (req.method === 'PUT' && req.url === '/state') {
      serial(async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { state: ClusterState };
        const r = await cp.program(body.state);
        store.state = body.state;
        save(store);
        return { version: r.version, ms: r.ms };
      }).then((r) => reply(200, r), fail);
    } else if (req.method === 'POST' && req.url === '/rotate') {
      serial(async () => {
        // Persisted after every phase: a successor must resume from what is in force, not from the start.
        return cp.rotateKey((keys) => {
          store.keys = keys;
          save(store);
        });
      }).then((r) => reply(200, r), fail);
    } else reply(404, { error: 'not found' });
  });
});

function shutdown(): void {
  cp.stopReconciler();
  server.close();
  fs.rmSync(args.api!, { force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

fs.rmSync(args.api, { force: true });
await adoptVersion();
await serial(() => cp.program(store.state));
server.listen(args.api, () => cp.startReconciler(Number(args['reconcile-ms'] ?? 200)));
