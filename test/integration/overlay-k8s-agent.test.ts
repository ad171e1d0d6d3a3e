// The agent and SaP in their Kubernetes shape, in real namespaces: the pod guard installed by the injected
// init step (the exact command injectOverlayAgent generates, with $(HOST_IP) expanded as the kubelet would),
// the agent started with the injected sidecar's arguments (config API on TCP), a config pushed over TCP from
// another "pod" (the control plane's), and the guard checked before and after it: the control plane reaches
// the API, the pod's own node reaches the app (kubelet probes), anyone else is dropped. Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectOverlayAgent } from '../../reference-impl/k8s/inject.ts';
import { AGENT_API_PORT, SAP_API_PORT } from '../../reference-impl/k8s/constants.ts';
import { Lab, UNDERLAY, agentConfig } from './overlay-datapath-lab.ts';

const IP = {
  sap: UNDERLAY.sap,
  node: '10.77.0.2',
  ctl: '10.77.0.5',
  a: UNDERLAY.a,
  attacker: UNDERLAY.attacker,
};
const lab = new Lab();

/** TCP connect from `host` to ip:port with a 1 s limit: 'open', 'refused' or 'timeout' (dropped). */
async function connect(host: string, ip: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${ip}');s.setTimeout(1000);s.on('connect',()=>{console.log('open');s.destroy()});s.on('timeout',()=>{console.log('timeout');s.destroy()});s.on('error',e=>console.log(e.code==='ECONNREFUSED'?'refused':e.code))`;
  return (await lab.exec(host, [process.execPath, '-e', js])).trim();
}

async function http(
  host: string,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ code: number; json: Record<string, unknown> }> {
  const args = ['curl', '-s', '-m', '3', '-o', '-', '-w', '\\n%{http_code}', '-X', method, url];
  if (body !== undefined)
    args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
  const out = (await lab.exec(host, args).catch((e: { stdout?: string }) => e.stdout ?? '\n000'))
    .trim()
    .split('\n');
  const code = Number(out.pop());
  return { code, json: out.length && out[0] ? (JSON.parse(out.join('\n')) as Record<string, unknown>) : {} };
}

async function until(what: string, f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const pod = injectOverlayAgent({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'a', namespace: 'x' },
  spec: { containers: [] },
});
const inits = (pod.spec as { initContainers: { name: string; command: string[] }[] }).initContainers;
const expand = (s: string) => s.replaceAll('$(HOST_IP)', IP.node);

beforeAll(async () => {
  await lab.up();
  for (const h of ['sap', 'node', 'ctl', 'a', 'attacker'] as const) await lab.host(h, IP[h]);
  // The injected init step, verbatim: sh -c SCRIPT RULESET.
  const guard = inits.find((c) => c.name === 'overlay-guard')!.command.map(expand);
  await lab.exec('a', guard);
  // The injected sidecar's arguments after the entry point.
  const agent = inits.find((c) => c.name === 'overlay-agent')!.command;
  const entry = agent.findIndex((a) => a.endsWith('reference-impl/agent/main.ts'));
  lab.spawnTs('a', 'reference-impl/agent/main.ts', agent.slice(entry + 1).map(expand));
  lab.spawn('a', [
    process.execPath,
    '-e',
    `require('net').createServer(s=>{s.on('error',()=>{});s.end('hi')}).listen(8080,'${IP.a}')`,
  ]);
  lab.spawnTs('sap', 'reference-impl/sap/main.ts', ['--api', `tcp://${IP.sap}:${SAP_API_PORT}`]);
  await until(
    'agent API over TCP',
    async () => (await http('ctl', 'GET', `http://${IP.a}:${AGENT_API_PORT}/status`)).code === 200,
  );
}, 60_000);

afterAll(() => lab.cleanup());

describe('overlay agent in its Kubernetes shape', () => {
  it('bootstrap guard: the control plane reaches the API, the node reaches the app, others are dropped', async () => {
    expect((await http('ctl', 'GET', `http://${IP.a}:${AGENT_API_PORT}/status`)).json.version).toBe(0);
    expect(await connect('node', IP.a, 8080)).toBe('open');
    expect(await connect('attacker', IP.a, 8080)).toBe('timeout');
    expect(await connect('ctl', IP.a, 8080)).toBe('timeout');
  });

  it('a config pushed over TCP is applied; the strict guard keeps the API port and the node exemption', async () => {
    const r = await http('ctl', 'PUT', `http://${IP.a}:${AGENT_API_PORT}/config`, agentConfig(1, 'a'));
    expect(r).toMatchObject({ code: 200, json: { applied: true, version: 1 } });
    const rules = await lab.exec('a', ['nft', 'list', 'table', 'inet', 'ovguard']);
    expect(rules).toContain(`tcp dport ${AGENT_API_PORT} accept`);
    expect(rules).toContain(`ip saddr ${IP.node} accept`);
    expect(rules).toMatch(
      new RegExp(`ip saddr \\. udp sport \\{? ?${IP.sap.replaceAll('.', '\\.')} \\. 6080`),
    );
    expect((await http('ctl', 'GET', `http://${IP.a}:${AGENT_API_PORT}/status`)).json.version).toBe(1);
    expect(await connect('node', IP.a, 8080)).toBe('open');
    expect(await connect('attacker', IP.a, 8080)).toBe('timeout');
  });

  it('the SaP serves its config API on TCP as well', async () => {
    await until(
      'SaP API over TCP',
      async () => (await http('ctl', 'GET', `http://${IP.sap}:${SAP_API_PORT}/status`)).code === 200,
    );
    expect((await http('ctl', 'GET', `http://${IP.sap}:${SAP_API_PORT}/status`)).json.version).toBe(0);
  });
});
