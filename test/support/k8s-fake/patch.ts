// Patch bodies and label-selector query strings as the API server reads them (pure).
import { ApiError } from './store.ts';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch: null deletes a key, objects merge recursively, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

const unescape = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

/** RFC 6902 JSON patch, the ops clients send: add, replace, remove, test. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw new ApiError(400, 'BadRequest', 'json patch: body must be an array of operations');
  let doc = structuredClone(target);
  for (const raw of ops as JsonPatchOp[]) {
    const parts = raw.path.split('/').slice(1).map(unescape);
    if (parts.length === 0) {
      if (raw.op === 'add' || raw.op === 'replace') doc = structuredClone(raw.value);
      continue;
    }
    let parent: unknown = doc;
    for (const p of parts.slice(0, -1)) {
      parent = Array.isArray(parent)
        ? parent[Number(p)]
        : (parent as Record<string, unknown> | undefined)?.[p];
      if (parent === undefined)
        throw new ApiError(422, 'Invalid', `json patch: path ${raw.path} does not exist`);
    }
    const last = parts[parts.length - 1]!;
    const container = parent as Record<string, unknown> & unknown[];
    const has = Array.isArray(container) ? Number(last) < container.length : last in container;
    switch (raw.op) {
      case 'add':
        if (Array.isArray(container))
          container.splice(last === '-' ? container.length : Number(last), 0, structuredClone(raw.value));
        else (container as Record<string, unknown>)[last] = structuredClone(raw.value);
        break;
      case 'replace':
        if (!has) throw new ApiError(422, 'Invalid', `json patch: replace of missing path ${raw.path}`);
        container[last as unknown as number] = structuredClone(raw.value);
        break;
      case 'remove':
        if (!has) throw new ApiError(422, 'Invalid', `json patch: remove of missing path ${raw.path}`);
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        break;
      case 'test':
        if (JSON.stringify(container[last as unknown as number]) !== JSON.stringify(raw.value))
          throw new ApiError(422, 'Invalid', `json patch: test failed at ${raw.path}`);
        break;
      default:
        throw new ApiError(400, 'BadRequest', `json patch: op ${raw.op} is not supported by the fake`);
    }
  }
  return doc;
}

type Req = { key: string; op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!='; values: string[] };

/** Parses a labelSelector query (`a=b,c!=d,e in (x,y),f notin (z),g,!h`); throws 400 on bad syntax. */
export function parseLabelSelector(s: string): Req[] {
  const out: Req[] = [];
  // Split on commas outside parentheses.
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') terms.push(cur);
  for (const t0 of terms) {
    const t = t0.trim();
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/)))
      out.push({
        key: m[1]!,
        op: m[2] as 'in' | 'notin',
        values: m[3]!
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      });
    else if ((m = t.match(/^([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)$/)))
      out.push({ key: m[1]!, op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] });
    else if ((m = t.match(/^!\s*([^\s!=]+)$/))) out.push({ key: m[1]!, op: '!exists', values: [] });
    else if ((m = t.match(/^([^\s!=()]+)$/))) out.push({ key: m[1]!, op: 'exists', values: [] });
    else throw new ApiError(400, 'BadRequest', `unable to parse requirement: ${JSON.stringify(t)}`);
  }
  return out;
}

export function matchesSelector(labels: Record<string, string> | undefined, reqs: Req[]): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case '=':
        return has && l[r.key] === r.values[0];
      case '!=':
        return !has || l[r.key] !== r.values[0];
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

/** fieldSelector: only `metadata.name=X` / `metadata.namespace=X` (what clients watch one object by). */
export function matchesFieldSelector(
  o: { metadata: { name?: string; namespace?: string } },
  s: string | undefined,
): boolean {
  if (!s) return true;
  return s.split(',').every((t) => {
    const m = t.trim().match(/^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new ApiError(400, 'BadRequest', `field label not supported by the fake: ${t}`);
    const v = m[1] === 'metadata.name' ? o.metadata.name : o.metadata.namespace;
    return m[2] === '!=' ? v !== m[3] : v === m[3];
  });
}
