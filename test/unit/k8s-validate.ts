// Validates a Kubernetes object against the OpenAPI schema through kubernetes-models (the class for its
// apiVersion/kind); throws with the JSON path of the first error.
const GROUPS: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'authorization.k8s.io/v1': 'kubernetes-models/authorization.k8s.io/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
};

export async function validateObject(o: {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string };
}): Promise<void> {
  const path = GROUPS[o.apiVersion];
  if (!path)
    throw new Error(`no schema module for apiVersion ${o.apiVersion} (${o.kind} ${o.metadata?.name})`);
  const mod = (await import(path)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${o.kind} ${o.metadata?.name ?? '?'}: ${(e as Error).message}`);
  }
}
