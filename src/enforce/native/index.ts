// The `native` enforcement mode: NetworkPolicy as a CNI would enforce it, one nftables table per node.
import type { ClusterState, EndpointRef, IPFamily } from '../../policy/model.ts';
import { familyAddress, type Network } from '../../platform/platform.ts';
import type { Action } from '../../scenario/types.ts';
import type { ApplyReport, Enforcer, EnforcerFactory } from '../enforcer.ts';
import { knobNumber } from '../../measure/test-knobs.ts';
import { applyAll, deleteTable, type Exec } from './apply.ts';
import { compileAllNodes, DEFAULT_TABLE, type NodeRuleset } from './compile.ts';

export { compileNftRuleset, compileAllNodes, compileNodeRuleset } from './compile.ts';

export class NativeEnforcer implements Enforcer {
  readonly mode = 'native' as const;
  /** The text in force on each node, so an update re-applies only nodes whose ruleset changed. */
  private readonly inForce = new Map<string, string>();
  /** Every node a table may exist on, including nodes whose last load failed midway. */
  private readonly touched = new Set<string>();
  private readonly exec: Exec;

  constructor(
    private readonly net: Pick<Network, 'exec' | 'address' | 'addresses'>,
    private readonly table = DEFAULT_TABLE,
    /** Test knob TB_NATIVE_PAD_RULES (src/measure/test-knobs.ts); 0 in every real run. */
    private readonly padRules = 0,
  ) {
    this.exec = (host, argv, opts) => net.exec(host, argv, opts);
  }

  apply(state: ClusterState): Promise<ApplyReport> {
    return this.program(state, true);
  }

  update(state: ClusterState, _change: Action[]): Promise<ApplyReport> {
    // Any action (label, pod, policy) can change peers anywhere, so recompile everything and diff the text:
    // compiling is cheap next to an nft transaction.
    return this.program(state, false);
  }

  private async program(state: ClusterState, all: boolean): Promise<ApplyReport> {
    const t0 = performance.now();
    const rulesets = compileAllNodes(state, this.table, this.padRules);
    const compileMs = performance.now() - t0;
    const changed = rulesets.filter((r) => all || this.inForce.get(r.node) !== r.text);
    for (const r of changed) this.touched.add(r.node);
    const { wallMs, perNodeMs } = await applyAll(this.exec, changed);
    for (const r of changed) this.inForce.set(r.node, r.text);
    const programmingMs = performance.now() - t0;
    return { programmingMs, detail: summarize(rulesets, changed, compileMs, wallMs, perNodeMs) };
  }

  targetAddress(_from: EndpointRef, to: EndpointRef, family?: IPFamily): string {
    return familyAddress(this.net, to, family);
  }

  unsupportedProtocols(): string[] {
    // The rules render SCTP fine, but this kernel has no SCTP sockets to probe with.
    return ['SCTP'];
  }

  async teardown(): Promise<void> {
    const nodes = [...this.touched].sort();
    this.inForce.clear();
    this.touched.clear();
    const results = await Promise.allSettled(nodes.map((n) => deleteTable(this.exec, n, this.table)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

function summarize(
  all: NodeRuleset[],
  changed: NodeRuleset[],
  compileMs: number,
  applyMs: number,
  perNodeMs: Record<string, number>,
): Record<string, number | string> {
  const sum = (f: (r: NodeRuleset) => number) => all.reduce((a, r) => a + f(r), 0);
  const detail: Record<string, number | string> = {
    compileMs: round(compileMs),
    applyMs: round(applyMs),
    nodesApplied: changed.length,
    nodes: all.length,
    ruleCount: sum((r) => r.ruleCount),
    chainCount: sum((r) => r.chainCount),
    setCount: sum((r) => r.setCount),
    bytes: sum((r) => Buffer.byteLength(r.text)),
  };
  for (const [node, ms] of Object.entries(perNodeMs)) detail[`applyMs:${node}`] = round(ms);
  return detail;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export const createNativeEnforcer: EnforcerFactory = (net) =>
  new NativeEnforcer(net, DEFAULT_TABLE, knobNumber('TB_NATIVE_PAD_RULES'));
