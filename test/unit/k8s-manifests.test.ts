// Kind cluster configs and the Kubernetes objects of a run, as data: golden files (regenerate with
// UPDATE_GOLDEN=1), OpenAPI validation of every object of every scenario, and the `manifests` command's output.
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  existsSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { scenarioFiles } from '../../src/commands/verify.ts';
import { run as manifestsCommand } from '../../src/commands/manifests.ts';
import {
  kindConfigs,
  kindConfigYAML,
  serviceSubnets,
  NODE_LABEL,
} from '../../src/platform/kubernetes/kind-config.ts';
import { renderManifestFiles, scenarioObjects } from '../../src/platform/kubernetes/manifests.ts';
import { namespaceMap, networkPolicyObject, podObject } from '../../src/platform/kubernetes/objects.ts';
import { loadOverlayManifests } from '../../src/platform/kubernetes/overlay.ts';
import { kubectlExecArgv } from '../../src/platform/kubernetes/tools.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { validateObject } from './k8s-validate.ts';

let overlayGen: Awaited<ReturnType<typeof loadOverlayManifests>> | undefined;
const overlayOnce = async () => (overlayGen ??= await loadOverlayManifests('tb0000'));

const GOLDEN = new URL('./golden/', import.meta.url).pathname;

function golden(name: string, text: string): void {
  const p = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN || !existsSync(p)) {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  expect(text).toBe(readFileSync(p, 'utf8'));
}

describe('kind config', () => {
  it('one control plane plus a labelled worker per node, cluster pod CIDR, kindnet keeps its CNI', () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    const [c] = kindConfigs('tb1234', sc.topology, 'kindnet');
    expect(c!.name).toBe('tb1234-c1');
    expect(c!.nodes.map((n) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
    expect(c!.nodes.slice(1).map((n) => n.labels?.[NODE_LABEL])).toEqual(['n1', 'n2']);
    expect(c!.networking).toMatchObject({
      podSubnet: '10.1.0.0/16',
      disableDefaultCNI: false,
      ipFamily: 'ipv4',
    });
    golden('k8s-kind-minimal-kindnet.yaml', kindConfigYAML(c!));
  });

  it('ipFamily follows the cluster: IPv6-only and dual-stack (both subnets, primary first, IPv6 services)', () => {
    const v6 = kindConfigs(
      'tb1234',
      loadScenario('scenarios/conformance/66-ipv6-deny-all.yaml').topology,
      'calico',
    )[0]!;
    expect(v6.networking.ipFamily).toBe('ipv6');
    expect(v6.networking.podSubnet).toMatch(/^fd00:/);
    expect(v6.networking.serviceSubnet).toBe('fd00:96:0::/112');
    const ds = kindConfigs(
      'tb1234',
      loadScenario('scenarios/conformance/70-dual-stack-same-policy.yaml').topology,
      'calico',
    )[0]!;
    expect(ds.networking.ipFamily).toBe('dual');
    const [pod4, pod6] = ds.networking.podSubnet.split(',');
    expect(pod4).toMatch(/^10\./);
    expect(pod6).toMatch(/^fd00:/);
    const [svc4, svc6] = ds.networking.serviceSubnet.split(',');
    expect(svc4).toMatch(/^10\.\d+\.0\.0\/16$/);
    expect(svc6).toBe('fd00:96:0::/112');
  });

  it('calico and cilium turn the default CNI off', () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    expect(kindConfigs('tb1234', sc.topology, 'calico')[0]!.networking.disableDefaultCNI).toBe(true);
    expect(kindConfigs('tb1234', sc.topology, 'cilium')[0]!.networking.disableDefaultCNI).toBe(true);
  });

  it('multi-cluster: distinct clusters, non-overlapping pod and service subnets', () => {
    const sc = loadScenario('scenarios/conformance/57-multi-cluster.yaml');
    const cs = kindConfigs('tbabcd', sc.topology, 'calico');
    expect(cs.length).toBeGreaterThan(1);
    const subnets = cs.flatMap((c) => [c.networking.podSubnet, c.networking.serviceSubnet]);
    expect(new Set(subnets).size).toBe(subnets.length);
    expect(new Set(cs.map((c) => c.name)).size).toBe(cs.length);
    golden('k8s-kind-multi-cluster-calico.yaml', cs.map(kindConfigYAML).join('---\n'));
  });

  it('a scenario pod CIDR inside 10.96.0.0/16 pushes the service subnet to the next free /16', () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    const t = {
      ...sc.topology,
      clusters: sc.topology.clusters.map((c) => ({ ...c, podCIDR: '10.96.0.0/16' })),
    };
    expect(serviceSubnets(t).get('c1')).toBe('10.97.0.0/16');
  });
});

describe('objects', () => {
  const sc = loadScenario('scenarios/examples/minimal.yaml');
  it('a pod: one agnhost server per (port, protocol), declared names kept, pinned to its node', async () => {
    const map = namespaceMap('tb1234', false, ['x', 'y']);
    const pod = podObject(sc.initial.pods[0]!, { tcp: [80], udp: [80] }, map);
    const spec = pod.spec as {
      nodeSelector: Record<string, string>;
      containers: { name: string; args: string[]; ports: { name?: string }[] }[];
    };
    expect(spec.nodeSelector).toEqual({ [NODE_LABEL]: 'n1' });
    expect(spec.containers.map((c) => c.name)).toEqual(['serve-80-tcp', 'serve-80-udp']);
    expect(spec.containers[0]!.args).toEqual(['serve-hostname', '--tcp', '--http=false', '--port', '80']);
    expect(spec.containers[0]!.ports[0]!.name).toBe('serve-80-tcp');
    await validateObject(pod);
  });

  it('with the tools image: probe container first, the probe server serving TCP/UDP, SCTP still porter; validates', async () => {
    const map = namespaceMap('tb1234', false, ['x']);
    const p = {
      ...sc.initial.pods[0]!,
      ports: [...sc.initial.pods[0]!.ports, { port: 90, protocol: 'SCTP' as const }],
    };
    const pod = podObject(p, { tcp: [80], udp: [80] }, map, undefined, 'policy-testbed/tools:0.1.0');
    const names = (pod.spec as { containers: { name: string }[] }).containers.map((c) => c.name);
    expect(names).toEqual(['probe', 'serve-90-sctp', 'tools']);
    await validateObject(pod);
    expect(
      kubectlExecArgv({
        kubeconfig: '/k',
        namespace: 'x',
        pod: 'a',
        container: 'tools',
        argv: ['iperf3', '-s'],
      }),
    ).toEqual(['--kubeconfig', '/k', 'exec', '-i', '-n', 'x', 'a', '-c', 'tools', '--', 'iperf3', '-s']);
  });

  it('shared cluster: namespaces prefixed, metadata.name selectors follow, other labels untouched', async () => {
    const map = namespaceMap('tb1234', true, ['x', 'y']);
    expect(map.toCluster('x')).toBe('tb1234-x');
    expect(map.toScenario('tb1234-y')).toBe('y');
    expect(map.toScenario('kube-system')).toBeUndefined();
    const np = networkPolicyObject(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'p', namespace: 'y' },
        spec: {
          podSelector: {},
          ingress: [
            {
              from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x', ns: 'x' } } }],
            },
            {
              from: [
                {
                  namespaceSelector: {
                    matchExpressions: [
                      { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['x', 'y'] },
                    ],
                  },
                },
              ],
            },
          ],
        },
      },
      map,
    );
    expect(np.metadata.namespace).toBe('tb1234-y');
    const ing = (
      np.spec as {
        ingress: {
          from: { namespaceSelector: { matchLabels?: object; matchExpressions?: { values: string[] }[] } }[];
        }[];
      }
    ).ingress;
    expect(ing[0]!.from[0]!.namespaceSelector.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'tb1234-x',
      ns: 'x',
    });
    expect(ing[1]!.from[0]!.namespaceSelector.matchExpressions![0]!.values).toEqual(['tb1234-x', 'tb1234-y']);
    await validateObject(np);
  });

  it('golden: the minimal scenario under native', () => {
    const files = renderManifestFiles(
      scenarioObjects(sc, { mode: 'native', prefix: 'tb0000', shared: false }),
    );
    expect([...files.keys()]).toEqual(['namespaces.yaml', 'networkpolicies.yaml', 'pods.yaml']);
    for (const [f, text] of files) golden(`k8s-minimal-native/${f}`, text);
  });

  it('mode none posts no policies', () => {
    const files = renderManifestFiles(scenarioObjects(sc, { mode: 'none', prefix: 'tb0000', shared: false }));
    expect(files.has('networkpolicies.yaml')).toBe(false);
  });

  it('deterministic: the same scenario renders byte-identical files', () => {
    const a = renderManifestFiles(scenarioObjects(sc, { mode: 'native', prefix: 'tb0000', shared: true }));
    const b = renderManifestFiles(
      scenarioObjects(loadScenario('scenarios/examples/minimal.yaml'), {
        mode: 'native',
        prefix: 'tb0000',
        shared: true,
      }),
    );
    expect([...a]).toEqual([...b]);
  });
});

describe('overlay mode: the reference overlay generator (reference-impl/k8s) through the manifest hook', () => {
  it('pods carry the agent as a native sidecar; the control plane, SaPs and RBAC are written; all validate', async () => {
    const sc = loadScenario('scenarios/examples/minimal.yaml');
    const overlay = await loadOverlayManifests('tb0000');
    const per = scenarioObjects(sc, { mode: 'overlay', prefix: 'tb0000', shared: false, overlay });
    const objs = per.get('c1')!;
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of [
      'Namespace',
      'Pod',
      'NetworkPolicy',
      'Deployment',
      'DaemonSet',
      'ClusterRole',
      'ClusterRoleBinding',
      'ServiceAccount',
    ])
      expect(kinds).toContain(k);
    const pod = objs.find((o) => o.kind === 'Pod' && o.metadata.name === 'a')!;
    const init = (pod.spec as { initContainers?: { restartPolicy?: string }[] }).initContainers ?? [];
    expect(init.some((c) => c.restartPolicy === 'Always')).toBe(true);
    // the workload's own servers are still there, unchanged
    expect((pod.spec as { containers: { name: string }[] }).containers.map((c) => c.name)).toContain(
      'serve-80-tcp',
    );
    for (const o of objs) await validateObject(o);
  });
});

describe('every scenario in scenarios/ validates', () => {
  it('the validator itself rejects a malformed object (a string container port)', async () => {
    const bad = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'a' },
      spec: { containers: [{ name: 'x', ports: [{ containerPort: '80' }] }] },
    };
    await expect(validateObject(bad)).rejects.toThrow(/containerPort/);
  });
  for (const file of scenarioFiles(['scenarios'])) {
    it(file, async () => {
      const sc = loadScenario(file);
      for (const shared of [false, true]) {
        const per = scenarioObjects(sc, { mode: 'native', prefix: 'tb0000', shared });
        for (const objs of per.values()) for (const o of objs) await validateObject(o);
      }
      const per = scenarioObjects(sc, {
        mode: 'overlay',
        prefix: 'tb0000',
        shared: false,
        overlay: await overlayOnce(),
      });
      for (const objs of per.values()) for (const o of objs) await validateObject(o);
    });
  }
});

describe('testbed manifests', () => {
  it('writes one file per kind, parseable YAML, and replaces the directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-manifests-'));
    try {
      const out = join(dir, 'out');
      mkdirSync(out);
      writeFileSync(join(out, 'stale.yaml'), 'x: 1\n');
      const log = console.log;
      console.log = () => undefined;
      try {
        expect(
          await manifestsCommand(['scenarios/examples/minimal.yaml', '--mode', 'native', '-o', out]),
        ).toBe(0);
      } finally {
        console.log = log;
      }
      expect(readdirSync(out).sort()).toEqual(['namespaces.yaml', 'networkpolicies.yaml', 'pods.yaml']);
      const pods = parseAllDocuments(readFileSync(join(out, 'pods.yaml'), 'utf8')).map(
        (d) => d.toJS() as { kind: string },
      );
      expect(pods.map((p) => p.kind)).toEqual(['Pod', 'Pod']);
      for (const p of pods) await validateObject(p as never);
      expect(readdirSync(dir)).toEqual(['out']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad mode with a UsageError', async () => {
    await expect(
      manifestsCommand(['scenarios/examples/minimal.yaml', '--mode', 'bogus', '-o', '/tmp/x']),
    ).rejects.toThrow(/unknown mode/);
  });
});
