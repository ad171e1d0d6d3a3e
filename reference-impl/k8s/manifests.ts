// The overlay's cluster-level objects as plain data (pure, deterministic): what an operator `kubectl apply`s
// to run the overlay on a cluster. One control plane per cluster (a Deployment watching pods, namespaces and
// NetworkPolicies through the API), one SaP per node (DaemonSet on the host network, so its GUE address is the
// node's), and one gateway SaP per cluster for cross-cluster and external traffic (a Deployment on the pod
// network). Workload pods get their agent through injectOverlayAgent (inject.ts).
import {
  APP_DIR,
  CONTROL_PLANE_NAME,
  CONTROL_PLANE_PORT,
  GATEWAY_NAME,
  GUE_PORT,
  NAME_LABEL,
  OVERLAY_IMAGE,
  PART_OF,
  PART_OF_LABEL,
  ROLE_LABEL,
  SAP_API_PORT,
  SAP_NAME,
  tsxCommand,
  type Role,
} from './constants.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

export interface ControlPlaneOptions {
  /** Namespace of the overlay's components (created by these manifests). */
  namespace: string;
  /** Topology cluster this control plane serves (SaP ids and gateway are per cluster). */
  cluster: string;
  image?: string;
  /** Run prefix of the harness: becomes the `testbed.io/run` label on every object (cleanup by label). */
  prefix?: string;
  /** Controller debounce window for event bursts (ms). */
  debounceMs?: number;
  /** Extra labels on every object. */
  labels?: Record<string, string>;
}

export const RUN_LABEL = 'testbed.io/run';

function commonLabels(
  o: { prefix?: string; labels?: Record<string, string> },
  name: string,
  role?: Role,
): Record<string, string> {
  return {
    [NAME_LABEL]: name,
    [PART_OF_LABEL]: PART_OF,
    ...(role ? { [ROLE_LABEL]: role } : {}),
    ...(o.prefix ? { [RUN_LABEL]: o.prefix } : {}),
    ...(o.labels ?? {}),
  };
}

const selectorLabels = (name: string, role: Role) => ({ [NAME_LABEL]: name, [ROLE_LABEL]: role });

/** The RBAC the controller needs: read and watch pods, namespaces, NetworkPolicies. Nothing more. */
export const CONTROLLER_RULES = [
  { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
];

const resources = (cpu: string, memory: string) => ({
  requests: { cpu, memory },
  limits: { memory: '256Mi' },
});

/** SaP container: config API on SAP_API_PORT (pushed by the control plane), GUE on UDP GUE_PORT. */
function sapContainer(image: string, name: string): Record<string, unknown> {
  return {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: tsxCommand('reference-impl/sap/main.ts', ['--api', `tcp://0.0.0.0:${SAP_API_PORT}`]),
    workingDir: APP_DIR,
    ports: [
      { name: 'sap-api', containerPort: SAP_API_PORT, protocol: 'TCP' },
      { name: 'gue', containerPort: GUE_PORT, protocol: 'UDP' },
    ],
    securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } },
    readinessProbe: { tcpSocket: { port: SAP_API_PORT }, periodSeconds: 2 },
    resources: resources('50m', '64Mi'),
  };
}

export function renderOverlayControlPlane(opts: ControlPlaneOptions): KubeObject[] {
  const image = opts.image ?? OVERLAY_IMAGE;
  const ns = opts.namespace;
  const roleName = `${ns}-${CONTROL_PLANE_NAME}`;
  const cpLabels = commonLabels(opts, CONTROL_PLANE_NAME, 'control-plane');
  const cpArgs = [
    '--cluster',
    opts.cluster,
    '--namespace',
    ns,
    '--port',
    String(CONTROL_PLANE_PORT),
    ...(opts.debounceMs !== undefined ? ['--debounce-ms', String(opts.debounceMs)] : []),
  ];
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: commonLabels(opts, ns) } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: CONTROL_PLANE_NAME, namespace: ns, labels: cpLabels },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: roleName, labels: cpLabels },
      rules: CONTROLLER_RULES,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: roleName, labels: cpLabels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
      subjects: [{ kind: 'ServiceAccount', name: CONTROL_PLANE_NAME, namespace: ns }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: CONTROL_PLANE_NAME, namespace: ns, labels: cpLabels },
      spec: {
        // One writer of config versions: never two controllers at once, even during a rollout.
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selectorLabels(CONTROL_PLANE_NAME, 'control-plane') },
        template: {
          metadata: { labels: cpLabels },
          spec: {
            serviceAccountName: CONTROL_PLANE_NAME,
            containers: [
              {
                name: 'control-plane',
                image,
                imagePullPolicy: 'IfNotPresent',
                command: tsxCommand('reference-impl/control-plane/k8s/main.ts', cpArgs),
                workingDir: APP_DIR,
                ports: [{ name: 'status', containerPort: CONTROL_PLANE_PORT, protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/healthz', port: CONTROL_PLANE_PORT }, periodSeconds: 2 },
                // Reads the API and pushes over TCP: no privilege at all (uid 1000 is `node` in the image).
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1000,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                },
                resources: resources('100m', '128Mi'),
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: CONTROL_PLANE_NAME, namespace: ns, labels: cpLabels },
      spec: {
        type: 'ClusterIP',
        selector: selectorLabels(CONTROL_PLANE_NAME, 'control-plane'),
        ports: [
          { name: 'status', port: CONTROL_PLANE_PORT, targetPort: CONTROL_PLANE_PORT, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: SAP_NAME, namespace: ns, labels: commonLabels(opts, SAP_NAME, 'sap') },
      spec: {
        selector: { matchLabels: selectorLabels(SAP_NAME, 'sap') },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels: commonLabels(opts, SAP_NAME, 'sap') },
          spec: {
            // The node SaP's GUE address is the node's own (one per node, as on Mininet).
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            // Every node, control-plane nodes and tainted nodes included: pods anywhere need their SaP.
            tolerations: [{ operator: 'Exists' }],
            // No system-node-critical priority class: several managed clusters cap critical pods outside
            // kube-system with a ResourceQuota, which would keep the SaPs from starting.
            containers: [sapContainer(image, 'sap')],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: GATEWAY_NAME, namespace: ns, labels: commonLabels(opts, GATEWAY_NAME, 'gateway') },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selectorLabels(GATEWAY_NAME, 'gateway') },
        template: {
          metadata: { labels: commonLabels(opts, GATEWAY_NAME, 'gateway') },
          spec: { containers: [sapContainer(image, 'gateway')] },
        },
      },
    },
  ];
}
