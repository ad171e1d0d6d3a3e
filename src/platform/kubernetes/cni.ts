// CNIs on kind. kindnet is kind's own (it enforces NetworkPolicy since kind v0.24, through
// kube-network-policies inside kindnetd); Calico is installed with the tigera-operator manifests and one
// Installation resource, Cilium with its Helm chart. Versions are pinned so two runs install the same thing;
// bump them here (and in README) deliberately.
import type { CniName } from './kind-config.ts';

export const CALICO_VERSION = 'v3.29.3';
export const CILIUM_VERSION = '1.17.4';
/** kind release whose kindnet enforces NetworkPolicy (kube-network-policies); older ones do not. */
export const KIND_MIN_VERSION = 'v0.24.0';

export const CALICO_OPERATOR_URL = `https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/tigera-operator.yaml`;

export interface CniInfo {
  /** A CniName on kind; on an existing cluster whatever it runs ('existing': not inspected). */
  name: string;
  version: string;
  /** Whether this CNI enforces NetworkPolicy objects posted to the API (undefined: not known). */
  enforcesNetworkPolicy?: boolean;
}

export function cniInfo(name: CniName, kindVersion?: string): CniInfo {
  if (name === 'calico') return { name, version: CALICO_VERSION, enforcesNetworkPolicy: true };
  if (name === 'cilium') return { name, version: CILIUM_VERSION, enforcesNetworkPolicy: true };
  return { name, version: `kindnet (kind ${kindVersion ?? 'unknown'})`, enforcesNetworkPolicy: true };
}

/** Calico's Installation resource: its IP pool is the cluster's pod subnet, VXLAN so it works on any underlay. */
export function calicoInstallation(podSubnet: string): Record<string, unknown> {
  return {
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: {
      calicoNetwork: {
        ipPools: [{ cidr: podSubnet, encapsulation: 'VXLAN', natOutgoing: 'Enabled', nodeSelector: 'all()' }],
      },
    },
  };
}

/** One step of installing a CNI: a program and its arguments (run with the cluster's kubeconfig in env). */
export interface InstallStep {
  argv: string[];
  input?: string;
  /** What the step waits for, named in the timeout error. */
  what: string;
  timeoutMs: number;
}

/**
 * Commands that install the CNI into a fresh kind cluster and wait until it is ready. kindnet needs none.
 * `kubectl` and (for Cilium) `helm` must be on PATH; checkPrerequisites says so before a cluster is made.
 */
export function cniInstallSteps(name: CniName, podSubnet: string, kubeconfig: string): InstallStep[] {
  const kc = ['--kubeconfig', kubeconfig];
  if (name === 'kindnet') return [];
  if (name === 'calico')
    return [
      // `create`, not `apply`: the operator CRDs are too large for client-side apply's annotation.
      {
        argv: ['kubectl', ...kc, 'create', '-f', CALICO_OPERATOR_URL],
        what: 'tigera-operator manifests',
        timeoutMs: 120_000,
      },
      {
        argv: [
          'kubectl',
          ...kc,
          'wait',
          '--for=condition=Established',
          'crd/installations.operator.tigera.io',
          '--timeout=120s',
        ],
        what: 'Calico CRDs',
        timeoutMs: 130_000,
      },
      {
        argv: ['kubectl', ...kc, 'create', '-f', '-'],
        input: JSON.stringify(calicoInstallation(podSubnet)),
        what: 'Calico Installation',
        timeoutMs: 60_000,
      },
      {
        argv: ['kubectl', ...kc, 'wait', '--for=condition=Ready', 'nodes', '--all', '--timeout=300s'],
        what: 'nodes Ready with Calico',
        timeoutMs: 310_000,
      },
    ];
  return [
    {
      argv: ['helm', 'repo', 'add', 'cilium', 'https://helm.cilium.io/', '--force-update'],
      what: 'cilium helm repo',
      timeoutMs: 60_000,
    },
    {
      argv: [
        'helm',
        'install',
        'cilium',
        'cilium/cilium',
        '--version',
        CILIUM_VERSION,
        '--namespace',
        'kube-system',
        '--kubeconfig',
        kubeconfig,
        '--set',
        'image.pullPolicy=IfNotPresent',
        '--set',
        'ipam.mode=kubernetes',
        '--wait',
        '--timeout',
        '10m',
      ],
      what: `cilium ${CILIUM_VERSION}`,
      timeoutMs: 610_000,
    },
    {
      argv: ['kubectl', ...kc, 'wait', '--for=condition=Ready', 'nodes', '--all', '--timeout=300s'],
      what: 'nodes Ready with Cilium',
      timeoutMs: 310_000,
    },
  ];
}
