// Schema validation of generated objects against the Kubernetes OpenAPI schema (kubernetes-models 4.5, the
// last line that runs on Node 20). A generator bug shows up as a test failure naming object and field, not as
// a rejected `kubectl apply` on someone's cluster.
import { Namespace, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { KubeObject } from './manifests.ts';

type Model = new (o: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace as unknown as Model,
  'v1/Pod': Pod as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'v1/ServiceAccount': ServiceAccount as unknown as Model,
  'apps/v1/DaemonSet': DaemonSet as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Model,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as Model,
};

export function validateObjects(objects: KubeObject[]): void {
  for (const o of objects) {
    const id = `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
    const M = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!M) throw new Error(`${id}: no schema known for ${o.apiVersion} ${o.kind}`);
    try {
      new M(structuredClone(o) as never).validate();
    } catch (e) {
      throw new Error(`${id}: ${(e as Error).message}`);
    }
  }
}
