// Injects the overlay agent into a workload pod, the way a mesh injects its proxy (pure, deterministic):
//  1. `overlay-guard`, an init step that installs the pod guard (nftables, default deny on the pod's
//     underlay interface) before anything else runs: only loopback, replies, the agent's config API and the
//     pod's own node (kubelet probes, always allowed by NetworkPolicy) get in. The agent narrows the guard to
//     GUE from its configured SaPs on its first config.
//  2. `overlay-agent`, a native sidecar (an init container with `restartPolicy: Always`, Kubernetes ≥ 1.29):
//     it starts before the app containers, keeps running beside them, and owns the TUN (`/dev/net/tun` from
//     the host, NET_ADMIN). Its startup probe holds the app containers back until its config API answers.
// The pod is labelled with the opt-in label the controller watches for.
import { guardRuleset } from '../agent/guard.ts';
import {
  AGENT_API_PORT,
  AGENT_CONTAINER,
  APP_DIR,
  GUARD_CONTAINER,
  GUE_PORT,
  MANAGED_LABEL,
  MANAGED_VALUE,
  OVERLAY_IMAGE,
  tsxCommand,
} from './constants.ts';
import type { KubeObject } from './manifests.ts';

export interface InjectOptions {
  image?: string;
  /** Accepted for symmetry with renderOverlayControlPlane (the agent needs neither: it is pushed to). */
  namespace?: string;
  prefix?: string;
  /** TUN device name inside the pod. */
  tun?: string;
}

const TUN_VOLUME = 'overlay-tun';
/** Downward API: the node's address, for the guard's node exemption ($(HOST_IP) is expanded by the kubelet). */
const HOST_IP_ENV = { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } };

/** The guard the init step installs: the agent's guard with no SaP yet, the API port and the node admitted. */
export function bootstrapGuardRuleset(tun = 'ov0'): string {
  return guardRuleset({
    tun,
    agentPort: GUE_PORT,
    saps: [],
    apiPort: AGENT_API_PORT,
    allowFrom: ['$(HOST_IP)'],
  });
}

type PodLike = KubeObject & { spec?: Record<string, unknown> };

export function injectOverlayAgent(pod: PodLike, opts: InjectOptions = {}): PodLike {
  const image = opts.image ?? OVERLAY_IMAGE;
  const tun = opts.tun ?? 'ov0';
  const out = structuredClone(pod);
  out.metadata.labels = { ...(out.metadata.labels ?? {}), [MANAGED_LABEL]: MANAGED_VALUE };
  const spec = (out.spec ??= {});
  const inits = ((spec.initContainers as { name: string }[] | undefined) ?? []).filter(
    (c) => c.name !== GUARD_CONTAINER && c.name !== AGENT_CONTAINER,
  );
  const capabilities = { add: ['NET_ADMIN'], drop: ['ALL'] };
  const guard = {
    name: GUARD_CONTAINER,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', 'printf "%s\\n" "$0" | nft -f -', bootstrapGuardRuleset(tun)],
    env: [HOST_IP_ENV],
    securityContext: { runAsUser: 0, capabilities },
    resources: { requests: { cpu: '10m', memory: '16Mi' } },
  };
  const agent = {
    name: AGENT_CONTAINER,
    image,
    imagePullPolicy: 'IfNotPresent',
    restartPolicy: 'Always',
    command: tsxCommand('reference-impl/agent/main.ts', [
      '--api',
      `tcp://0.0.0.0:${AGENT_API_PORT}`,
      '--tun',
      tun,
      '--allow-from',
      '$(HOST_IP)',
    ]),
    workingDir: APP_DIR,
    env: [HOST_IP_ENV],
    ports: [{ name: 'ov-api', containerPort: AGENT_API_PORT, protocol: 'TCP' }],
    startupProbe: { tcpSocket: { port: AGENT_API_PORT }, periodSeconds: 1, failureThreshold: 60 },
    securityContext: { runAsUser: 0, capabilities },
    volumeMounts: [{ name: TUN_VOLUME, mountPath: '/dev/net/tun' }],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  };
  spec.initContainers = [guard, agent, ...inits];
  const volumes = ((spec.volumes as { name: string }[] | undefined) ?? []).filter(
    (v) => v.name !== TUN_VOLUME,
  );
  spec.volumes = [...volumes, { name: TUN_VOLUME, hostPath: { path: '/dev/net/tun', type: 'CharDevice' } }];
  return out;
}
