// `testbed manifests <scenario> --mode native|overlay -o DIR`: every object a run would create, as plain YAML,
// one file per object kind (one folder per cluster when there are several), so a user can read, diff or
// `kubectl apply -f` it. Deterministic; written to a temporary directory first and renamed into place.
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { renderManifestFiles, scenarioObjects, type ManifestMode } from '../platform/kubernetes/manifests.ts';
import { loadOverlayManifests } from '../platform/kubernetes/overlay.ts';
import { isPrefix } from '../platform/mininet/topo.ts';
import { loadScenario } from '../scenario/load.ts';

const HELP = `usage: testbed manifests <scenario file> --mode none|native|overlay -o DIR [options]

Writes every Kubernetes object a run of the scenario would create (namespaces, pods, NetworkPolicies and, for
--mode overlay, the overlay's components) as YAML, one file per object kind; one folder per cluster when the
topology has several. DIR is replaced atomically.

options:
  --mode MODE       none | native | overlay (default native)
  -o, --out DIR     output directory (required)
  --shared          prefix namespaces with the run prefix, as on --platform kubernetes (default: kind's names)
  --prefix P        run prefix to write (tb + 4 hex digits; default tb0000, so output is reproducible)`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        mode: { type: 'string', default: 'native' },
        out: { type: 'string', short: 'o' },
        shared: { type: 'boolean', default: false },
        prefix: { type: 'string', default: 'tb0000' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(`manifests: ${(e as Error).message}`);
  }
  const { values: o, positionals } = parsed;
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('manifests: name exactly one scenario file');
  if (!o.out) throw new UsageError('manifests: -o DIR is required');
  const mode = o.mode as ManifestMode;
  if (!['none', 'native', 'overlay'].includes(mode))
    throw new UsageError(`manifests: unknown mode '${o.mode}' (none, native, overlay)`);
  if (!isPrefix(o.prefix))
    throw new UsageError(`manifests: --prefix '${o.prefix}' must be tb + 4 hex digits`);
  const scenario = loadScenario(positionals[0]!);
  const overlay = mode === 'overlay' ? await loadOverlayManifests(o.prefix) : undefined;
  const files = renderManifestFiles(
    scenarioObjects(scenario, { mode, prefix: o.prefix, shared: o.shared, overlay }),
  );
  writeDirAtomically(resolve(o.out), files);
  console.log(`${files.size} files in ${o.out}: ${[...files.keys()].join(', ')}`);
  return 0;
}

/** Writes every file under a sibling temp dir, then swaps it in: readers see the old or the new set, never half. */
export function writeDirAtomically(dir: string, files: Map<string, string>): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    for (const [rel, text] of files) {
      const p = join(tmp, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
    }
    const old = `${dir}.old-${process.pid}`;
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
