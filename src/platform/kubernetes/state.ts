// What a Kubernetes run created, recorded before it creates it, so `testbed cleanup` can remove exactly that
// after a crash: kind clusters by name, or namespaces on a shared cluster (each also labelled with the run).
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { STATE_DIR, type RecordedProcess } from '../runstate.ts';

export interface KubeRunState {
  prefix: string;
  owner: RecordedProcess;
  platform: 'kind' | 'kubernetes';
  kindClusters: string[];
  /** Shared cluster: where the namespaces live. */
  kubeconfig?: string;
  context?: string;
  namespaces: string[];
  startedAt: string;
}

export function kubeStateDir(): string {
  if (process.env.TESTBED_K8S_STATE_DIR) return process.env.TESTBED_K8S_STATE_DIR;
  // kind needs no root, so an unprivileged run keeps its record under the user's state directory.
  if (process.getuid?.() === 0) return join(STATE_DIR, 'kubernetes');
  return join(
    process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'),
    'policy-testbed',
    'kubernetes',
  );
}

export function writeKubeState(s: KubeRunState): void {
  const dir = kubeStateDir();
  mkdirSync(dir, { recursive: true });
  const p = join(dir, `${s.prefix}.json`);
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 1));
  renameSync(`${p}.tmp`, p);
}

export function removeKubeState(prefix: string): void {
  rmSync(join(kubeStateDir(), `${prefix}.json`), { force: true });
}

export function readKubeStates(): KubeRunState[] {
  const dir = kubeStateDir();
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^tb[0-9a-f]{4}\.json$/.test(f));
  } catch {
    return [];
  }
  const out: KubeRunState[] = [];
  for (const f of files) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as KubeRunState);
    } catch {
      // torn or foreign: not ours to act on
    }
  }
  return out;
}
