// API discovery documents of the fake, in the shapes `kubectl` and client-node's KubernetesObjectApi read
// (APIVersions, APIGroupList, APIResourceList, version.Info): only the resources the fake serves.
import { RESOURCE_INFO, RESOURCES } from './resources.ts';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** APIResourceList of one group/version ('' = core), or undefined when the fake serves nothing there. */
export function groupResources(group: string, version: string): Record<string, unknown> | undefined {
  const rs = RESOURCES.filter(
    (r) => RESOURCE_INFO[r].group === group && RESOURCE_INFO[r].version === version,
  );
  if (rs.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const r of rs) {
    const i = RESOURCE_INFO[r];
    resources.push({
      name: r,
      singularName: i.singular,
      namespaced: i.namespaced,
      kind: i.kind,
      verbs: i.namespaced ? verbs : verbs.filter((v) => v !== 'deletecollection'),
      ...(i.shortNames ? { shortNames: i.shortNames } : {}),
    });
    if (r === 'pods')
      resources.push({
        name: 'pods/exec',
        singularName: '',
        namespaced: true,
        kind: 'PodExecOptions',
        verbs: ['create', 'get'],
      });
    if (r !== 'serviceaccounts' && r !== 'configmaps' && !i.group.startsWith('rbac'))
      resources.push({
        name: `${r}/status`,
        singularName: '',
        namespaced: i.namespaced,
        kind: i.kind,
        verbs: ['get', 'patch', 'update'],
      });
  }
  const gv = group ? `${group}/${version}` : version;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroups(): Record<string, unknown> {
  const groups = [...new Set(RESOURCES.map((r) => RESOURCE_INFO[r].group).filter(Boolean))].sort();
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const gv = { groupVersion: `${name}/v1`, version: 'v1' };
      return { name, versions: [gv], preferredVersion: gv };
    }),
  };
}

export function versionInfo(): Record<string, unknown> {
  return {
    major: '1',
    minor: '31',
    gitVersion: 'v1.31.0-testbed-fake',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: 'go1.22.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
