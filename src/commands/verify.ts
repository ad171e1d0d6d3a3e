// `testbed verify`: runs only the semantics engine over scenario files, prints each probe's truth table, checks
// the scenario's expected matrices and ends with `N passed, N failed`. Scenarios with AuthorizationPolicies or
// HTTP probes are checked against the combined L3 × L7 verdict (cells `.`, `X` = L3, `7` = L7). Exit 0 all passed, 1 any mismatch,
// 2 bad input (any file that fails to load or has a malformed expected matrix).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { InputError, UsageError } from '../errors.ts';
import { compileState } from '../policy/compile.ts';
import { verdict } from '../policy/engine.ts';
import type { Flow, IPFamily, Protocol } from '../policy/model.ts';
import { PROTOCOLS } from '../policy/model.ts';
import {
  compareWithExpected,
  MatrixError,
  parseExpectedMatrix,
  probeLabel,
  renderTable,
  tableToJSON,
  truthTables,
  type CellMismatch,
  type TableJSON,
} from '../policy/truthtable.ts';
import { loadScenario } from '../scenario/load.ts';
import { combinedVerdict, requestFor } from '../policy/authz/combined.ts';
import { l7TruthTable, needsL7 } from '../policy/authz/table.ts';
import type { Cell } from '../policy/truthtable.ts';
import { endpointRefSchema } from '../scenario/schema.ts';
import { statesPerStep } from '../scenario/state.ts';

const HELP = `usage: testbed verify <scenario files or directories...> [options]

Computes every probe's reachability with the NetworkPolicy semantics engine and compares it with the
scenario's expected matrices. A directory means every *.yaml under it (recursively; policy-only files skipped).

options:
  --explain FLOW   print both directions' reasons for one flow at every step,
                   FLOW = ns/pod->ns/pod:port[/proto][@IPv4|@IPv6] (endpoints may also be ext:name or
                   node:name; the family defaults to the first both ends have); with AuthorizationPolicies
                   also the L7 verdict
  --http 'M PATH'  with --explain: explain an HTTP request (e.g. 'GET /admin?x=1') instead of a TCP connection
  --verbose, -v    also print the ingress and egress tables
  --json           machine-readable output on stdout (the summary line goes to stderr)
  --quiet, -q      print only mismatches, errors and the summary line`;

interface ProbeResult {
  port: number | string;
  protocol: Protocol;
  /** Set when the scenario has more than one address family. */
  family?: IPFamily;
  /** `METHOD path` of an HTTP probe. */
  http?: string;
  tables: { combined: TableJSON; ingress?: TableJSON; egress?: TableJSON };
  expected: boolean;
  pass?: boolean;
  mismatches?: CellMismatch[];
}

interface StepResult {
  name: string;
  probes: ProbeResult[];
  explain?: { flow: string; verdict?: ReturnType<typeof verdict>; text: string };
}

interface ScenarioResult {
  file: string;
  name?: string;
  error?: string;
  steps: StepResult[];
}

export function parseFlow(text: string): Flow {
  const m = /^(.+?)->(.+):([A-Za-z0-9-]+)(?:\/([A-Za-z]+))?(?:@(IPv4|IPv6))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--explain: expected ns/pod->ns/pod:port[/proto][@IPv4|@IPv6], got '${text}'`);
  const protocol = (m[4] ?? 'TCP').toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(protocol))
    throw new UsageError(`--explain: unknown protocol '${m[4]}' (TCP, UDP or SCTP)`);
  const port = /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]!;
  for (const ref of [m[1]!, m[2]!])
    if (!endpointRefSchema.safeParse(ref).success)
      throw new UsageError(
        `--explain: '${ref}' is not an endpoint (ns/pod, ext:name or node:name) in '${text}'`,
      );
  return { from: m[1]!, to: m[2]!, port, protocol, ...(m[5] ? { family: m[5] as IPFamily } : {}) };
}

/** Scenario files named by the arguments; directories are walked for *.yaml / *.yml. */
export function scenarioFiles(args: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name) && !isPolicyOnlyFile(p)) out.push(p);
    }
  };
  for (const a of args) {
    let st;
    try {
      st = statSync(a);
    } catch {
      throw new InputError(a, '', 'no such file or directory');
    }
    if (st.isDirectory()) walk(a);
    else out.push(a);
  }
  return out;
}

/** Policy files referenced by scenarios live next to them; they hold Kubernetes objects, not scenarios. */
function isPolicyOnlyFile(path: string): boolean {
  try {
    const docs = parseAllDocuments(readFileSync(path, 'utf8'));
    const list = Array.isArray(docs) ? docs : [docs];
    return list.every((d) => {
      const v = d.toJS() as { kind?: unknown; apiVersion?: unknown } | null;
      return v === null || (typeof v === 'object' && (v.kind !== undefined || v.apiVersion !== undefined));
    });
  } catch {
    return false;
  }
}

/** `GET /path` → method and path. */
export function parseHttpRequestLine(text: string): { method: string; path: string } {
  const m = /^([A-Za-z]+)\s+(\/\S*)$/.exec(text.trim());
  if (!m) throw new UsageError(`--http: expected 'METHOD /path', got '${text}'`);
  return { method: m[1]!, path: m[2]! };
}

function verifyScenario(
  file: string,
  opts: { explain?: Flow; http?: { method: string; path: string }; verbose: boolean },
): ScenarioResult {
  const scenario = loadScenario(file);
  const states = statesPerStep(scenario.initial, scenario.steps);
  const result: ScenarioResult = { file, name: scenario.name, steps: [] };
  scenario.steps.forEach((step, si) => {
    const cs = compileState(states[si]!);
    const sr: StepResult = { name: step.name, probes: [] };
    step.probes.forEach((probe, pi) => {
      const tables = truthTables(cs, probe);
      const combined = needsL7(cs.state, probe) ? l7TruthTable(cs, probe) : tables.combined;
      const pr: ProbeResult = {
        port: probe.port,
        protocol: probe.protocol,
        ...(probe.family ? { family: probe.family } : {}),
        ...(probe.http ? { http: `${probe.http.method} ${probe.http.path}` } : {}),
        tables: { combined: tableToJSON(combined) },
        expected: probe.expected !== undefined,
      };
      if (opts.verbose) {
        pr.tables.ingress = tableToJSON(tables.ingress);
        pr.tables.egress = tableToJSON(tables.egress);
      }
      if (probe.expected !== undefined) {
        try {
          pr.mismatches = compareWithExpected(combined, parseExpectedMatrix(probe.expected));
        } catch (e) {
          if (e instanceof MatrixError)
            throw new InputError(file, `steps[${si}].probes[${pi}].expected`, e.message);
          throw e;
        }
        pr.pass = pr.mismatches.length === 0;
      }
      sr.probes.push(pr);
    });
    if (opts.explain) {
      const f = opts.explain;
      const label = `${f.from}->${f.to}:${f.port}/${f.protocol}${f.family ? `@${f.family}` : ''}`;
      const missing = [f.from, f.to].filter((r) => !cs.byRef.has(r));
      if (missing.length)
        sr.explain = { flow: label, text: `${missing.join(', ')} not present at this step` };
      else {
        let v: ReturnType<typeof verdict>;
        try {
          v = verdict(cs, f);
        } catch (e) {
          sr.explain = { flow: label, text: (e as Error).message };
          result.steps.push(sr);
          return;
        }
        const lines = [
          `${v.allowed === 'undefined' ? 'UNDEFINED (pod to itself)' : v.allowed ? 'ALLOWED' : 'DENIED'}`,
          `  egress  (${v.egress.allowed ? 'allow' : 'deny'}): ${v.egress.reason}`,
          `  ingress (${v.ingress.allowed ? 'allow' : 'deny'}): ${v.ingress.reason}`,
        ];
        if (opts.http || (cs.state.authorizationPolicies?.length ?? 0) > 0) {
          const http = opts.http ? { method: opts.http.method, path: opts.http.path } : undefined;
          const c = combinedVerdict(cs.state, f, requestFor(cs.state, f, http));
          const head =
            c.allowed === 'undefined' ? 'UNDEFINED' : c.allowed ? 'ALLOWED' : `DENIED at ${c.layer}`;
          lines.push(`  L3 x L7 ${http ? `(${http.method} ${http.path})` : '(TCP)'}: ${head}: ${c.reason}`);
        }
        sr.explain = { flow: label, verdict: v, text: lines.join('\n') };
      }
    }
    result.steps.push(sr);
  });
  return result;
}

function printText(r: ScenarioResult, quiet: boolean, verbose: boolean): void {
  const out: string[] = [];
  const indent = (s: string) => s.replace(/^/gm, '    ');
  if (r.error) {
    console.error(`testbed: ${r.error}`);
    return;
  }
  out.push(`== ${r.file}: ${r.name}`);
  let anything = false;
  r.steps.forEach((s, si) => {
    const lines: string[] = [];
    s.probes.forEach((p) => {
      const failed = p.pass === false;
      if (quiet && !failed) return;
      const status =
        p.pass === undefined
          ? '(no expected matrix)'
          : p.pass
            ? 'PASS'
            : `FAIL (${p.mismatches!.length} cells)`;
      lines.push(`  probe ${probeLabel(p, true)}${p.http ? ` HTTP ${p.http}` : ''}: ${status}`);
      const show = (t: TableJSON, title: string) => {
        lines.push(`   ${title}:`);
        lines.push(
          indent(renderTable({ from: t.from, to: t.to, cells: t.rows.map((row) => [...row] as Cell[]) })),
        );
      };
      if (!quiet || failed) show(p.tables.combined, 'combined');
      if (verbose && p.tables.ingress && p.tables.egress) {
        show(p.tables.ingress, 'ingress');
        show(p.tables.egress, 'egress');
      }
      for (const m of p.mismatches ?? [])
        lines.push(`    mismatch ${m.from} -> ${m.to}: expected ${m.expected} got ${m.actual}: ${m.reason}`);
    });
    if (s.explain) lines.push(`  explain ${s.explain.flow}: ${s.explain.text.replace(/\n/g, '\n  ')}`);
    if (lines.length) {
      anything = true;
      out.push(`-- step ${si + 1}: ${s.name}`, ...lines);
    }
  });
  if (!quiet || anything) console.log(out.join('\n'));
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        explain: { type: 'string' },
        http: { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(`verify: ${(e as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError(`verify: no scenario given\n\n${HELP}`);
  const explain = values.explain !== undefined ? parseFlow(values.explain) : undefined;
  if (values.http !== undefined && !explain) throw new UsageError('verify: --http needs --explain');
  const http = values.http !== undefined ? parseHttpRequestLine(values.http) : undefined;

  let passed = 0;
  let failed = 0;
  let inputErrors = 0;
  const results: ScenarioResult[] = [];
  let files: string[] = [];
  for (const a of positionals) {
    try {
      files.push(...scenarioFiles([a]));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      inputErrors++;
      results.push({ file: a, error: e.message, steps: [] });
    }
  }
  files = [...new Set(files)];
  for (const file of files) {
    let r: ScenarioResult;
    try {
      r = verifyScenario(file, { explain, http, verbose: values.verbose });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      inputErrors++;
      r = { file, error: e.message, steps: [] };
    }
    for (const s of r.steps)
      for (const p of s.probes) {
        if (p.pass === true) passed++;
        else if (p.pass === false) failed++;
      }
    results.push(r);
  }
  const summary = `${passed} passed, ${failed} failed`;
  if (values.json) {
    console.log(JSON.stringify({ passed, failed, inputErrors, scenarios: results }, null, 2));
    console.error(summary);
  } else {
    for (const r of results) printText(r, values.quiet, values.verbose);
    if (inputErrors) console.error(`${inputErrors} file(s) could not be verified (bad input)`);
    console.log(summary);
  }
  if (inputErrors) return 2;
  return failed > 0 ? 1 : 0;
}
