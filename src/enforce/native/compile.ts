// The native enforcer's compiler: cluster state → one nftables ruleset per node (pure, no I/O).
// The engine's compiled state supplies selection and peers; plan.ts resolves them per node, render.ts writes nft.
import type { ClusterState, PolicyType } from '../../policy/model.ts';
import { compileState, type CompiledPolicy } from '../../policy/engine.ts';
import { nftName, shortHash } from './names.ts';
import { planNode, type PodPlan } from './plan.ts';
import { renderNode, type Rendered } from './render.ts';

/** The table each node's ruleset lives in (one per node namespace, so the name need not carry the node). */
export const DEFAULT_TABLE = 'k8s_netpol';

const DIR: Record<PolicyType, string> = { Ingress: 'in', Egress: 'eg' };

// Many policies share a named-port resolution (`0:metrics/TCP=8003;`): hash each distinct one once.
const variantTags = new Map<string, string>();

function variantTag(variant: string): string {
  let tag = variantTags.get(variant);
  if (tag === undefined) {
    if (variantTags.size > 100_000) variantTags.clear();
    variantTags.set(variant, (tag = `np${shortHash(variant, 6)}`));
  }
  return tag;
}

function policyChainName(dir: PolicyType, cp: CompiledPolicy, variant: string): string {
  const { namespace, name } = cp.policy.metadata;
  // Variants only exist for ingress named ports: one chain per distinct resolution on the selected pods.
  return variant
    ? nftName(`pol_${DIR[dir]}`, namespace, name, variantTag(variant))
    : nftName(`pol_${DIR[dir]}`, namespace, name);
}

function podChainName(dir: PolicyType, pod: PodPlan): string {
  const [ns, name] = pod.ref.split('/') as [string, string];
  return nftName(`pod_${DIR[dir]}`, ns, name);
}

export interface NodeRuleset extends Rendered {
  node: string;
}

/** The ruleset text for one node; `nft -f` applies it as one transaction. */
export function compileNftRuleset(state: ClusterState, node: string, table = DEFAULT_TABLE): string {
  return compileNodeRuleset(state, node, table).text;
}

export function compileNodeRuleset(
  state: ClusterState,
  node: string,
  table = DEFAULT_TABLE,
  padRules = 0,
): NodeRuleset {
  const cs = compileState(state);
  const plan = planNode(cs, node, policyChainName);
  return { node, ...renderNode(plan, { table, podChain: podChainName, padRules }) };
}

/** Every node's ruleset; selection, peers and policy chains are resolved once and shared across nodes. */
export function compileAllNodes(state: ClusterState, table = DEFAULT_TABLE, padRules = 0): NodeRuleset[] {
  return [...state.nodes]
    .map((n) => n.name)
    .sort()
    .map((n) => compileNodeRuleset(state, n, table, padRules));
}
