// The control plane as a controller process in a cluster:
//   node --import tsx reference-impl/control-plane/k8s/main.ts --cluster NAME --namespace OVERLAY_NS
//        [--port 9400] [--debounce-ms 50] [--kubeconfig FILE [--context NAME]]
// In a pod it uses the service account (in-cluster config); outside, a kubeconfig. It watches managed pods
// (label overlay.testbed.io/managed=true), the overlay's SaP/gateway pods in OVERLAY_NS, namespaces and
// NetworkPolicies, and keeps every agent and SaP on the current config version.
//
// HTTP on --port: GET /healthz → 200 once every watch has synced (503 before); GET /status → the controller's
// status (version, inForce, last program's latency, invalid policies, skipped pods, watch counters).
// Stdout: one JSON line per event ({event: 'listening' | 'inForce' | 'programError' | 'invalidPolicy' |
// 'watchError', ...}). SIGTERM/SIGINT: stop watching, exit 0 (agents and SaPs keep the version in force).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { parseArgs } from '../../sap/api.ts';
import { CONTROL_PLANE_PORT } from '../../k8s/constants.ts';
import { OverlayController } from './controller.ts';

const args = parseArgs(process.argv.slice(2), [
  'cluster',
  'namespace',
  'port',
  'debounce-ms',
  'kubeconfig',
  'context',
]);
const usage = (why: string): never => {
  process.stderr.write(
    `control-plane/k8s/main.ts: ${why}\nusage: --cluster NAME --namespace OVERLAY_NS [--port N] [--debounce-ms N] [--kubeconfig FILE [--context NAME]]\n`,
  );
  process.exit(2);
};
if (!args.cluster) usage('--cluster is required');
if (!args.namespace) usage('--namespace is required');
const port = Number(args.port ?? CONTROL_PLANE_PORT);
const debounceMs = Number(args['debounce-ms'] ?? 50);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${args.port}: not a port number`);
if (!Number.isFinite(debounceMs) || debounceMs < 0)
  usage(`--debounce-ms ${args['debounce-ms']}: not a duration`);

const kc = new KubeConfig();
try {
  if (args.kubeconfig) {
    kc.loadFromFile(args.kubeconfig);
    if (args.context) kc.setCurrentContext(args.context);
  } else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else usage('not in a cluster (KUBERNETES_SERVICE_HOST unset) and no --kubeconfig given');
} catch (e) {
  usage(`cannot load the Kubernetes client config: ${(e as Error).message}`);
}

const emit = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(e)}\n`);
const ctl = new OverlayController(kc, {
  cluster: args.cluster!,
  namespace: args.namespace!,
  debounceMs,
  log: emit,
});

const server = http.createServer((req, res) => {
  const reply = (code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const st = ctl.status();
  if (req.method === 'GET' && req.url === '/healthz') reply(st.synced ? 200 : 503, { synced: st.synced });
  else if (req.method === 'GET' && req.url === '/status') reply(200, st);
  else reply(404, { error: 'not found' });
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  await ctl.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

server.listen(port, () => {
  emit({
    event: 'listening',
    port: (server.address() as AddressInfo).port,
    cluster: args.cluster,
    namespace: args.namespace,
  });
  ctl.start();
});
