// The overlay's Kubernetes objects as data: golden files (regenerate with UPDATE_GOLDEN=1), OpenAPI schema
// validation of every object, RBAC limited to reading pods/namespaces/policies, and the injection contract.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  AGENT_API_PORT,
  AGENT_CONTAINER,
  GUARD_CONTAINER,
  MANAGED_LABEL,
  OVERLAY_IMAGE,
  injectOverlayAgent,
  renderOverlayControlPlane,
  validateObjects,
  type KubeObject,
} from '../../reference-impl/k8s/index.ts';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;

function golden(name: string, text: string): void {
  const p = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  expect(existsSync(p), `${p} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(text).toBe(readFileSync(p, 'utf8'));
}

const yamlOf = (objs: unknown[]) => objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');

const workload = (): KubeObject & { spec: Record<string, unknown> } => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'a', namespace: 'x', labels: { pod: 'a' } },
  spec: {
    nodeSelector: { 'testbed.io/node': 'n1' },
    containers: [
      {
        name: 'serve-80-tcp',
        image: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
        ports: [{ containerPort: 80, name: 'serve-80-tcp' }],
      },
    ],
    initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['true'] }],
    volumes: [{ name: 'data', emptyDir: {} }],
  },
});

describe('overlay manifests', () => {
  const opts = { namespace: 'tb1-overlay-system', cluster: 'c1', prefix: 'tb1' };

  it('golden: control plane, SaP DaemonSet, gateway, RBAC', () => {
    const objs = renderOverlayControlPlane(opts);
    golden('k8s-overlay/control-plane.yaml', yamlOf(objs));
    expect(objs.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Service',
      'DaemonSet',
      'Deployment',
    ]);
  });

  it('golden: an injected pod', () => {
    golden(
      'k8s-overlay/injected-pod.yaml',
      yamlOf([injectOverlayAgent(workload(), { image: OVERLAY_IMAGE })]),
    );
  });

  it('every object validates against the Kubernetes OpenAPI schema', () => {
    validateObjects([...renderOverlayControlPlane(opts), injectOverlayAgent(workload())]);
    // The validator is not a no-op: a wrong type is named with its path.
    const bad = renderOverlayControlPlane(opts);
    (
      bad[6] as unknown as { spec: { template: { spec: { hostNetwork: unknown } } } }
    ).spec.template.spec.hostNetwork = 'yes';
    expect(() => validateObjects(bad)).toThrow(/DaemonSet tb1-overlay-system\/overlay-sap: .*hostNetwork/);
  });

  it('is deterministic and labels every object with the run prefix', () => {
    expect(yamlOf(renderOverlayControlPlane(opts))).toBe(yamlOf(renderOverlayControlPlane({ ...opts })));
    for (const o of renderOverlayControlPlane(opts))
      expect(o.metadata.labels?.['testbed.io/run']).toBe('tb1');
  });

  it('RBAC: get/list/watch of pods, namespaces, networkpolicies, nothing more', () => {
    const role = renderOverlayControlPlane(opts).find((o) => o.kind === 'ClusterRole') as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    const grants = role.rules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
    );
    expect(grants.sort()).toEqual(
      [
        '/namespaces:get',
        '/namespaces:list',
        '/namespaces:watch',
        '/pods:get',
        '/pods:list',
        '/pods:watch',
        'networking.k8s.io/networkpolicies:get',
        'networking.k8s.io/networkpolicies:list',
        'networking.k8s.io/networkpolicies:watch',
      ].sort(),
    );
  });

  it('SaP DaemonSet runs on the host network with NET_ADMIN on every node', () => {
    const ds = renderOverlayControlPlane(opts).find((o) => o.kind === 'DaemonSet') as unknown as {
      spec: {
        template: {
          spec: {
            hostNetwork: boolean;
            tolerations: unknown[];
            containers: { securityContext: { capabilities: { add: string[] } } }[];
          };
        };
      };
    };
    const t = ds.spec.template.spec;
    expect(t.hostNetwork).toBe(true);
    expect(t.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(t.containers[0]!.securityContext.capabilities.add).toEqual(['NET_ADMIN']);
  });

  it('injection: guard init step, then the agent as a native sidecar, then the pod own init containers; idempotent', () => {
    const src = workload();
    const p = injectOverlayAgent(src) as ReturnType<typeof workload>;
    const inits = p.spec.initContainers as {
      name: string;
      restartPolicy?: string;
      command: string[];
      securityContext: { capabilities: { add: string[] } };
      volumeMounts?: { mountPath: string }[];
    }[];
    expect(inits.map((c) => c.name)).toEqual([GUARD_CONTAINER, AGENT_CONTAINER, 'setup']);
    expect(inits[0]!.restartPolicy).toBeUndefined();
    expect(inits[1]!.restartPolicy).toBe('Always');
    expect(inits[1]!.securityContext.capabilities.add).toContain('NET_ADMIN');
    expect(inits[1]!.volumeMounts).toEqual([{ name: 'overlay-tun', mountPath: '/dev/net/tun' }]);
    expect(inits[1]!.command).toContain(`tcp://0.0.0.0:${AGENT_API_PORT}`);
    // The bootstrap guard admits the config API and the node, and drops everything else.
    expect(inits[0]!.command[3]).toMatch(
      new RegExp(
        `tcp dport ${AGENT_API_PORT} accept[\\s\\S]*ip saddr \\{ \\$\\(HOST_IP\\) \\} accept[\\s\\S]*counter drop`,
      ),
    );
    expect(p.spec.volumes).toEqual([
      { name: 'data', emptyDir: {} },
      { name: 'overlay-tun', hostPath: { path: '/dev/net/tun', type: 'CharDevice' } },
    ]);
    expect(p.metadata.labels).toEqual({ pod: 'a', [MANAGED_LABEL]: 'true' });
    expect(src.spec.initContainers).toHaveLength(1);
    expect(injectOverlayAgent(p)).toEqual(p);
  });
});
