// GET /watch of the agent/SaP control API (reference-impl/sap/api.ts): one line when opened, one after every
// applied version, none for a refused push; the control plane counts an open stream as proof that the process
// still runs what it announced (control-plane/server.ts). No root needed.
import { afterEach, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { serveApi } from '../../reference-impl/sap/api.ts';
import { unixRequest } from '../../reference-impl/control-plane/server.ts';

let dir = '';
let server: http.Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('announces the version on open and after each applied push, not after a refused one', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-watch-'));
  const sock = path.join(dir, 'a.sock');
  let version = 0;
  server = await serveApi(sock, {
    version: () => version,
    counters: () => ({}),
    apply: async (body) => {
      if ((body as { bad?: boolean }).bad) throw new Error('refused');
      version = (body as { version: number }).version;
    },
  });
  const lines: { version: number; pid: number }[] = [];
  const req = http.request({ socketPath: sock, path: '/watch' }, (res) => {
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (c: string) => {
      buf += c;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) lines.push(JSON.parse(p));
    });
  });
  req.end();
  const until = async (n: number) => {
    for (let i = 0; i < 200 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  };
  await until(1);
  expect(lines).toEqual([{ version: 0, pid: process.pid }]);
  expect((await unixRequest(sock, 'PUT', '/config', { version: 3 })).status).toBe(200);
  await until(2);
  expect(lines.map((l) => l.version)).toEqual([0, 3]);
  expect((await unixRequest(sock, 'PUT', '/config', { version: 4, bad: true })).status).toBe(400);
  expect((await unixRequest(sock, 'PUT', '/config', { version: 2 })).json).toMatchObject({ applied: false });
  expect((await unixRequest(sock, 'PUT', '/config', { version: 5 })).status).toBe(200);
  await until(3);
  expect(lines.map((l) => l.version)).toEqual([0, 3, 5]);
  req.destroy();
});
