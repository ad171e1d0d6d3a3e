// Pure state transitions of a scenario: each action maps one ClusterState to the next. The loader runs them
// once to check references; the harness runs them again step by step to drive enforcement.
import type { ClusterState, Namespace } from '../policy/model.ts';
import { METADATA_NAME_LABEL } from '../policy/model.ts';
import type { Action } from './types.ts';
import { DEFAULT_MESH_ROOT_NAMESPACE } from '../policy/authz/model.ts';

/** Namespace labels as Kubernetes stores them: the user's labels plus the immutable metadata-name label. */
export function namespaceWithImpliedLabel(name: string, labels: Record<string, string>): Namespace {
  return { name, labels: { ...labels, [METADATA_NAME_LABEL]: name } };
}

/** Applies one action; throws Error with a plain reason when the action refers to something absent. */
export function applyAction(state: ClusterState, action: Action): ClusterState {
  if ('createPolicy' in action) {
    const p = action.createPolicy;
    if (
      state.policies.some(
        (q) => q.metadata.namespace === p.metadata.namespace && q.metadata.name === p.metadata.name,
      )
    )
      throw new Error(`policy ${p.metadata.namespace}/${p.metadata.name} already exists (use updatePolicy)`);
    requireNamespace(state, p.metadata.namespace);
    return { ...state, policies: [...state.policies, p] };
  }
  if ('updatePolicy' in action) {
    const p = action.updatePolicy;
    const i = state.policies.findIndex(
      (q) => q.metadata.namespace === p.metadata.namespace && q.metadata.name === p.metadata.name,
    );
    if (i < 0)
      throw new Error(`policy ${p.metadata.namespace}/${p.metadata.name} does not exist (use createPolicy)`);
    const policies = [...state.policies];
    policies[i] = p;
    return { ...state, policies };
  }
  if ('deletePolicy' in action) {
    const { namespace, name } = action.deletePolicy;
    const policies = state.policies.filter(
      (q) => !(q.metadata.namespace === namespace && q.metadata.name === name),
    );
    if (policies.length === state.policies.length)
      throw new Error(`policy ${namespace}/${name} does not exist`);
    return { ...state, policies };
  }
  if (
    'createAuthorizationPolicy' in action ||
    'updateAuthorizationPolicy' in action ||
    'deleteAuthorizationPolicy' in action
  )
    return applyAuthzAction(state, action);
  if ('setPodLabels' in action) {
    const { pod, labels } = action.setPodLabels;
    const i = podIndex(state, pod);
    const pods = [...state.pods];
    pods[i] = { ...pods[i]!, labels: { ...labels } };
    return { ...state, pods };
  }
  if ('setNamespaceLabels' in action) {
    const { namespace, labels } = action.setNamespaceLabels;
    requireNamespace(state, namespace);
    return {
      ...state,
      namespaces: state.namespaces.map((n) =>
        n.name === namespace ? namespaceWithImpliedLabel(namespace, labels) : n,
      ),
    };
  }
  if ('addPod' in action) {
    const pod = action.addPod;
    requireNamespace(state, pod.namespace);
    if (state.pods.some((p) => p.namespace === pod.namespace && p.name === pod.name))
      throw new Error(`pod ${pod.namespace}/${pod.name} already exists`);
    if (state.pods.some((p) => p.ip === pod.ip))
      throw new Error(`address ${pod.ip} is already used by another pod`);
    return { ...state, pods: [...state.pods, pod] };
  }
  if ('removePod' in action) {
    const i = podIndex(state, action.removePod.pod);
    return { ...state, pods: state.pods.filter((_, j) => j !== i) };
  }
  const never: never = action;
  throw new Error(`unknown action ${JSON.stringify(never)}`);
}

const authzKey = (p: { metadata: { namespace: string; name: string } }) =>
  `${p.metadata.namespace}/${p.metadata.name}`;

/** AuthorizationPolicy actions; a policy's namespace must be declared or be the mesh root namespace. */
function applyAuthzAction(
  state: ClusterState,
  action: Extract<
    Action,
    | { createAuthorizationPolicy: unknown }
    | { updateAuthorizationPolicy: unknown }
    | { deleteAuthorizationPolicy: unknown }
  >,
): ClusterState {
  const list = state.authorizationPolicies ?? [];
  if ('deleteAuthorizationPolicy' in action) {
    const { namespace, name } = action.deleteAuthorizationPolicy;
    const next = list.filter((q) => authzKey(q) !== `${namespace}/${name}`);
    if (next.length === list.length)
      throw new Error(`AuthorizationPolicy ${namespace}/${name} does not exist`);
    return { ...state, authorizationPolicies: next };
  }
  const p =
    'createAuthorizationPolicy' in action
      ? action.createAuthorizationPolicy
      : action.updateAuthorizationPolicy;
  const i = list.findIndex((q) => authzKey(q) === authzKey(p));
  if ('createAuthorizationPolicy' in action) {
    if (i >= 0)
      throw new Error(`AuthorizationPolicy ${authzKey(p)} already exists (use updateAuthorizationPolicy)`);
    if (p.metadata.namespace !== (state.meshRootNamespace ?? DEFAULT_MESH_ROOT_NAMESPACE))
      requireNamespace(state, p.metadata.namespace);
    return { ...state, authorizationPolicies: [...list, p] };
  }
  if (i < 0)
    throw new Error(`AuthorizationPolicy ${authzKey(p)} does not exist (use createAuthorizationPolicy)`);
  const next = [...list];
  next[i] = p;
  return { ...state, authorizationPolicies: next };
}

function requireNamespace(state: ClusterState, name: string): void {
  if (!state.namespaces.some((n) => n.name === name)) throw new Error(`namespace '${name}' is not declared`);
}

function podIndex(state: ClusterState, ref: string): number {
  const [ns, name] = ref.split('/');
  const i = state.pods.findIndex((p) => p.namespace === ns && p.name === name);
  if (i < 0) throw new Error(`pod ${ref} does not exist at this step`);
  return i;
}

/** The states after each step (index i = state in force while step i's probes run). */
export function statesPerStep(initial: ClusterState, steps: { actions: Action[] }[]): ClusterState[] {
  const out: ClusterState[] = [];
  let s = initial;
  for (const step of steps) {
    for (const a of step.actions) s = applyAction(s, a);
    out.push(s);
  }
  return out;
}
