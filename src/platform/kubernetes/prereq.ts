// Fast, clear failures before anything is created: each missing piece is one UsageError line (exit 2) saying
// what is missing and how to get it. Every check has a short limit, so nothing hangs (the acceptance bar is
// a verdict within 5 s on a machine without Docker or kind).
import { access, constants } from 'node:fs/promises';
import { UsageError } from '../../errors.ts';
import { runCli, type CliRunner } from './exec-cli.ts';
import { KIND_MIN_VERSION } from './cni.ts';
import type { CniName } from './kind-config.ts';
import type { KubeClient } from './client.ts';

const CHECK_TIMEOUT_MS = 4000;

async function onPath(name: string, path = process.env.PATH ?? ''): Promise<boolean> {
  if (name.includes('/'))
    return access(name, constants.X_OK).then(
      () => true,
      () => false,
    );
  for (const dir of path.split(':').filter(Boolean)) {
    try {
      await access(`${dir}/${name}`, constants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}

function versionAtLeast(v: string, min: string): boolean {
  const parse = (s: string) => (/(\d+)\.(\d+)\.(\d+)/.exec(s) ?? []).slice(1).map(Number);
  const a = parse(v);
  const b = parse(min);
  if (a.length !== 3) return true; // unknown format: do not block on it
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}

export interface KindPrereqOptions {
  cni: CniName;
  run?: CliRunner;
  kind?: string;
}

/** kind on PATH (recent enough for kindnet to enforce), a working container engine, and the CNI's tools. */
export async function checkKindPrerequisites(o: KindPrereqOptions): Promise<{ kindVersion: string }> {
  const run = o.run ?? runCli;
  const kind = o.kind ?? process.env.TESTBED_KIND ?? 'kind';
  if (!(await onPath(kind)))
    throw new UsageError(
      `--platform kind needs the kind CLI (${KIND_MIN_VERSION} or newer), not found on PATH: install it from https://kind.sigs.k8s.io/docs/user/quick-start/#installation`,
    );
  const provider = process.env.KIND_EXPERIMENTAL_PROVIDER === 'podman' ? 'podman' : 'docker';
  const [engine, version] = await Promise.all([
    run([provider, 'info', '--format', '{{.ServerVersion}}'], { timeoutMs: CHECK_TIMEOUT_MS }),
    run([kind, 'version'], { timeoutMs: CHECK_TIMEOUT_MS }),
  ]);
  if (engine.code !== 0) {
    const why =
      engine.error === 'ENOENT'
        ? `${provider} is not installed`
        : engine.timedOut
          ? `'${provider} info' gave no answer within ${CHECK_TIMEOUT_MS / 1000} s`
          : `'${provider} info' failed: ${(engine.stderr.trim().split('\n').pop() ?? '').slice(0, 160)}`;
    throw new UsageError(
      `--platform kind needs a running container engine (${why}): start Docker (or Podman with KIND_EXPERIMENTAL_PROVIDER=podman)`,
    );
  }
  const kindVersion = /v\d+\.\d+\.\d+\S*/.exec(version.stdout)?.[0] ?? 'unknown';
  if (o.cni === 'kindnet' && !versionAtLeast(kindVersion, KIND_MIN_VERSION))
    throw new UsageError(
      `kind ${kindVersion} ships a kindnet without NetworkPolicy support: upgrade kind to ${KIND_MIN_VERSION} or newer, or use --cni calico|cilium`,
    );
  const tools = o.cni === 'calico' ? ['kubectl'] : o.cni === 'cilium' ? ['kubectl', 'helm'] : [];
  const missing: string[] = [];
  for (const t of tools) if (!(await onPath(t))) missing.push(t);
  if (missing.length)
    throw new UsageError(
      `--cni ${o.cni} is installed with ${tools.join(' and ')}: ${missing.join(', ')} not found on PATH (https://kubernetes.io/docs/tasks/tools/, https://helm.sh/docs/intro/install/)`,
    );
  return { kindVersion };
}

/** What a run does on a shared cluster; each one is checked with a SelfSubjectAccessReview. */
export const REQUIRED_ACCESS: { verb: string; resource: string; group?: string; subresource?: string }[] = [
  { verb: 'create', resource: 'namespaces' },
  { verb: 'delete', resource: 'namespaces' },
  { verb: 'patch', resource: 'namespaces' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'create', resource: 'pods' },
  { verb: 'delete', resource: 'pods' },
  { verb: 'patch', resource: 'pods' },
  { verb: 'watch', resource: 'pods' },
  { verb: 'create', resource: 'pods', subresource: 'exec' },
  { verb: 'create', resource: 'networkpolicies', group: 'networking.k8s.io' },
  { verb: 'update', resource: 'networkpolicies', group: 'networking.k8s.io' },
  { verb: 'delete', resource: 'networkpolicies', group: 'networking.k8s.io' },
];

/** A loadable kubeconfig, a reachable API server, and the permissions a run needs. */
export async function checkClusterPrerequisites(o: {
  kubeconfig?: string;
  context?: string;
  client?: KubeClient;
}): Promise<{ serverVersion: string }> {
  // Loaded here, not at the top: `--platform kind` checks must not pay for the client library.
  const { KubeClient, apiMessage, loadKubeConfig } = await import('./client.ts');
  let client = o.client;
  if (!client) {
    try {
      client = new KubeClient(loadKubeConfig(o));
    } catch (e) {
      throw new UsageError(
        `--platform kubernetes: cannot load the kubeconfig${o.kubeconfig ? ` ${o.kubeconfig}` : ' (KUBECONFIG or ~/.kube/config)'}${o.context ? ` with context ${o.context}` : ''}: ${(e as Error).message}; pass --kubeconfig FILE [--context NAME]`,
      );
    }
    if (!client.kc.getCurrentCluster())
      throw new UsageError(
        `--platform kubernetes: the kubeconfig names no cluster for context '${client.kc.getCurrentContext() || '(none)'}': pass --kubeconfig FILE [--context NAME]`,
      );
  }
  let serverVersion: string;
  try {
    serverVersion = await client.serverVersion(CHECK_TIMEOUT_MS);
  } catch (e) {
    throw new UsageError(
      `the API server ${client.server()} is unreachable (${apiMessage(e)}): check --kubeconfig/--context and that the cluster is running`,
    );
  }
  let answers: boolean[];
  try {
    answers = await Promise.all(REQUIRED_ACCESS.map((a) => client.can(a.verb, a.resource, a)));
  } catch (e) {
    throw new UsageError(
      `cannot check permissions on ${client.server()} (SelfSubjectAccessReview: ${apiMessage(e)})`,
    );
  }
  const denied = REQUIRED_ACCESS.filter((_, i) => !answers[i]).map(
    (a) => `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}`,
  );
  if (denied.length)
    throw new UsageError(
      `missing RBAC on ${client.server()}: ${denied.join(', ')}; ask for a role that grants them (cluster-admin on a test cluster does)`,
    );
  return { serverVersion };
}
