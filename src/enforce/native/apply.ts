// Loads rulesets into nodes with `nft -f -` (one transaction per node: the text itself replaces the table), all
// nodes in parallel, and turns nft's complaints into errors that show the offending line of our text.
import type { ExecOptions, ExecResult } from '../../platform/platform.ts';

export type Exec = (host: string, argv: string[], opts?: ExecOptions) => Promise<ExecResult>;

export class NftApplyError extends Error {
  constructor(
    readonly node: string,
    readonly stderr: string,
    readonly line?: number,
    readonly lineText?: string,
  ) {
    super(
      `nft rejected the ruleset of node ${node}${line !== undefined ? ` at line ${line}: ${lineText?.trim()}` : ''}\n${stderr.trim()}`,
    );
    this.name = 'NftApplyError';
  }
}

/** nft names the failing position as `/dev/stdin:LINE:COL-COL: Error: …` (or the file name with -f FILE). */
export function nftError(node: string, text: string, stderr: string): NftApplyError {
  const m = /:(\d+):\d+(?:-\d+)?: Error:/.exec(stderr);
  if (!m) return new NftApplyError(node, stderr);
  const line = Number(m[1]);
  return new NftApplyError(node, stderr, line, text.split('\n')[line - 1]);
}

export function nodeHost(node: string): string {
  return `node:${node}`;
}

/**
 * How long one `nft -f` may take. Loading 10,000 policies takes 1.4–2.9 s on an idle 2-core VM (bench/nft.ts),
 * but nodes load in parallel, and at a load average above 20 a 10,000-policy sweep point once took over 60 s;
 * TB_NFT_TIMEOUT_MS overrides.
 */
export function nftTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.TB_NFT_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 180_000;
}

export class NftTimeoutError extends Error {
  constructor(
    readonly node: string,
    readonly timeoutMs: number,
    lines: number,
  ) {
    super(
      `nft did not finish loading the ruleset of node ${node} (${lines} lines) within ${timeoutMs / 1000} s and was ` +
        `stopped; the machine may be overloaded (set TB_NFT_TIMEOUT_MS to wait longer)`,
    );
    this.name = 'NftTimeoutError';
  }
}

/** Applies one ruleset; resolves to the wall time nft took, in ms. `check` validates without committing (nft -c). */
export async function applyRuleset(
  exec: Exec,
  node: string,
  text: string,
  opts: { check?: boolean; timeoutMs?: number } = {},
): Promise<number> {
  const t0 = performance.now();
  const argv = opts.check ? ['nft', '-c', '-f', '-'] : ['nft', '-f', '-'];
  const timeoutMs = opts.timeoutMs ?? nftTimeoutMs();
  const r = await exec(nodeHost(node), argv, { input: text, timeoutMs });
  if (r.timedOut) throw new NftTimeoutError(node, timeoutMs, text.split('\n').length);
  if (r.code !== 0) throw nftError(node, text, r.stderr || r.stdout || `nft exited with code ${r.code}`);
  return performance.now() - t0;
}

export interface ApplyAllResult {
  /** Wall time until the last node's nft returned. */
  wallMs: number;
  perNodeMs: Record<string, number>;
}

/** Applies every given ruleset in parallel; fails with the first node's error after all have finished. */
export async function applyAll(
  exec: Exec,
  rulesets: { node: string; text: string }[],
  opts: { check?: boolean } = {},
): Promise<ApplyAllResult> {
  const t0 = performance.now();
  const results = await Promise.allSettled(rulesets.map((r) => applyRuleset(exec, r.node, r.text, opts)));
  const wallMs = performance.now() - t0;
  const perNodeMs: Record<string, number> = {};
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') perNodeMs[rulesets[i]!.node] = r.value;
  });
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return { wallMs, perNodeMs };
}

/** Removes the table from a node; a table that is already gone is not an error. */
export async function deleteTable(exec: Exec, node: string, table: string): Promise<void> {
  const d = await exec(nodeHost(node), ['nft', '-f', '-'], {
    input: `table inet ${table}\ndelete table inet ${table}\n`,
    timeoutMs: 30_000,
  });
  if (d.code !== 0) throw nftError(node, `table inet ${table}\ndelete table inet ${table}`, d.stderr);
}
