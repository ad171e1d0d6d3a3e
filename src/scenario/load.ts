// Reads a scenario file: YAML → zod → references and addresses resolved. Every error is an InputError that
// names the file, the field path (e.g. `policies[2].spec.ingress[0].from[1].ipBlock.cidr`) and the reason.
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import type { NetworkPolicy } from '../policy/model.ts';
import { networkPolicySchema, scenarioSchema, type ScenarioParsed } from './schema.ts';
import { authorizationPolicySchema } from './authz-schema.ts';
import type { AuthorizationPolicy } from '../policy/authz/model.ts';
import { resolveScenario } from './resolve.ts';
import type { Scenario } from './types.ts';

/** `a.b[2].c` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

function firstIssue(file: string, error: z.ZodError, prefix: readonly PropertyKey[] = []): InputError {
  // zod reports a failed union as one issue with nested errors; report the branch that got furthest.
  let issue = error.issues[0]!;
  let path: PropertyKey[] = [...prefix, ...issue.path];
  while (
    issue.code === 'invalid_union' &&
    'errors' in issue &&
    Array.isArray(issue.errors) &&
    issue.errors.length
  ) {
    const branches = issue.errors as z.core.$ZodIssue[][];
    const best = branches.reduce((a, b) => (deepest(b) > deepest(a) ? b : a));
    const next = best.reduce((a, b) => (b.path.length > a.path.length ? b : a));
    path = [...path, ...next.path];
    issue = next;
  }
  return new InputError(file, formatPath(path), issue.message);
}

function deepest(issues: z.core.$ZodIssue[]): number {
  return Math.max(...issues.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 0 : 1)));
}

function parseYaml(file: string, text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) throw new InputError(file, '', `malformed YAML: ${doc.errors[0]!.message}`);
  return toJS(file, '', doc);
}

/** Document → value; an alias without its anchor (or a too-deep alias bomb) is an input error, not a crash. */
function toJS(
  file: string,
  field: string,
  doc: { toJS(opts?: { maxAliasCount?: number }): unknown },
): unknown {
  try {
    return doc.toJS({ maxAliasCount: 10_000 });
  } catch (e) {
    throw new InputError(file, field, `malformed YAML: ${(e as Error).message}`);
  }
}

/** Reads NetworkPolicy objects from a (multi-document) YAML file. */
export function loadPolicyFile(file: string): NetworkPolicy[] {
  return loadObjectFile(file, networkPolicySchema, 'policy') as NetworkPolicy[];
}

/** Reads security.istio.io/v1 AuthorizationPolicy objects from a (multi-document) YAML file. */
export function loadAuthorizationPolicyFile(file: string): AuthorizationPolicy[] {
  return loadObjectFile(file, authorizationPolicySchema, 'AuthorizationPolicy') as AuthorizationPolicy[];
}

function loadObjectFile(file: string, schema: z.ZodType, what: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, '', `cannot read ${what} file: ${(e as Error).message}`);
  }
  const out: unknown[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (doc.errors.length)
      throw new InputError(file, `document ${i}`, `malformed YAML: ${doc.errors[0]!.message}`);
    const value = toJS(file, `document ${i}`, doc);
    if (value === null || value === undefined) return;
    // A `kind: List` (as `kubectl get -o yaml` prints) carries its objects in `items`.
    const items: unknown[] =
      (value as { kind?: string }).kind === 'List' ? ((value as { items?: unknown[] }).items ?? []) : [value];
    items.forEach((item, j) => {
      const r = schema.safeParse(item);
      const prefix =
        items.length > 1 || list.length > 1
          ? [`document ${i}`, ...(items.length > 1 ? ['items', j] : [])]
          : [];
      if (!r.success) throw firstIssue(file, r.error, prefix);
      out.push(r.data);
    });
  });
  return out;
}

/** Parses and validates scenario text; `file` names it in errors and anchors relative policy paths. */
export function parseScenario(file: string, text: string): Scenario {
  const raw = parseYaml(file, text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError(file, '', 'a scenario must be a YAML mapping');
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) throw firstIssue(file, r.error);
  const parsed: ScenarioParsed = r.data;
  const baseDir = dirname(resolvePath(file));
  const reader =
    <T>(load: (path: string) => T[]) =>
    (ref: string, field: string): T[] => {
      const path = resolvePath(baseDir, ref);
      try {
        return load(path);
      } catch (e) {
        if (e instanceof InputError && e.field === '') throw new InputError(file, field, e.reason);
        throw e;
      }
    };
  return resolveScenario(file, parsed, reader(loadPolicyFile), reader(loadAuthorizationPolicyFile));
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, '', `cannot read scenario: ${(e as Error).message}`);
  }
  return parseScenario(file, text);
}
