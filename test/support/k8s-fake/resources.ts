// The resources the fake API server serves: name, API group/version, kind, scope. Everything else (routes,
// discovery documents, list kinds, schema validation, NotFound messages) is derived from this one table.
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';

export type Resource =
  | 'namespaces'
  | 'pods'
  | 'services'
  | 'serviceaccounts'
  | 'configmaps'
  | 'networkpolicies'
  | 'deployments'
  | 'daemonsets'
  | 'clusterroles'
  | 'clusterrolebindings'
  | 'roles'
  | 'rolebindings';

type Model = new (o: never) => { validate(): void };

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  model: Model;
}

const m = (x: unknown) => x as Model;
export const RESOURCE_INFO: Record<Resource, ResourceInfo> = {
  namespaces: {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    model: m(Namespace),
  },
  pods: {
    group: '',
    version: 'v1',
    kind: 'Pod',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    model: m(Pod),
  },
  services: {
    group: '',
    version: 'v1',
    kind: 'Service',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    model: m(Service),
  },
  serviceaccounts: {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    model: m(ServiceAccount),
  },
  configmaps: {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    model: m(ConfigMap),
  },
  networkpolicies: {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    singular: 'networkpolicy',
    namespaced: true,
    shortNames: ['netpol'],
    model: m(NetworkPolicy),
  },
  deployments: {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    model: m(Deployment),
  },
  daemonsets: {
    group: 'apps',
    version: 'v1',
    kind: 'DaemonSet',
    singular: 'daemonset',
    namespaced: true,
    shortNames: ['ds'],
    model: m(DaemonSet),
  },
  clusterroles: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'ClusterRole',
    singular: 'clusterrole',
    namespaced: false,
    model: m(ClusterRole),
  },
  clusterrolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'ClusterRoleBinding',
    singular: 'clusterrolebinding',
    namespaced: false,
    model: m(ClusterRoleBinding),
  },
  roles: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'Role',
    singular: 'role',
    namespaced: true,
    model: m(Role),
  },
  rolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'RoleBinding',
    singular: 'rolebinding',
    namespaced: true,
    model: m(RoleBinding),
  },
};

export const RESOURCES = Object.keys(RESOURCE_INFO) as Resource[];
export const KIND = Object.fromEntries(RESOURCES.map((r) => [r, RESOURCE_INFO[r].kind])) as Record<
  Resource,
  string
>;
export const apiVersionOf = (r: Resource): string => {
  const i = RESOURCE_INFO[r];
  return i.group ? `${i.group}/${i.version}` : i.version;
};
export const API_VERSION = Object.fromEntries(RESOURCES.map((r) => [r, apiVersionOf(r)])) as Record<
  Resource,
  string
>;

/** The resource served at (group, version, plural name), if any. */
export function findResource(group: string, version: string, name: string): Resource | undefined {
  const r = name as Resource;
  const i = RESOURCE_INFO[r];
  return i && i.group === group && i.version === version ? r : undefined;
}

export interface Route {
  resource: Resource;
  namespace?: string;
  name?: string;
  sub?: string;
}

/** URL path → resource, namespace, name, subresource; undefined when the fake serves nothing there. */
export function route(path: string): Route | undefined {
  const base = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(path);
  if (!base) return undefined;
  const group = base[2] ?? '';
  const version = base[1] ?? base[3]!;
  const parts = base[4]!.split('/').map(decodeURIComponent);
  if (parts.some((p) => p === '')) return undefined;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    const r = findResource(group, version, parts[2]!);
    if (r && RESOURCE_INFO[r].namespaced && parts.length <= 5)
      return { resource: r, namespace: parts[1], name: parts[3], sub: parts[4] };
  }
  const r = findResource(group, version, parts[0]!);
  if (!r || parts.length > 3) return undefined;
  // A namespaced resource at cluster scope: only the list across all namespaces.
  if (RESOURCE_INFO[r].namespaced) return parts.length === 1 ? { resource: r } : undefined;
  return { resource: r, name: parts[1], sub: parts[2] };
}
