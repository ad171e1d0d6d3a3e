// The overlay's Kubernetes deployment, generated from code (pure functions, deterministic output). Agreed API
// for the harness (src/platform/kubernetes/overlay.ts, `testbed manifests`):
//
//   renderOverlayControlPlane({ namespace, cluster, image?, prefix?, debounceMs?, labels? }): KubeObject[]
//     → Namespace, ServiceAccount, ClusterRole + ClusterRoleBinding (get/list/watch pods, namespaces,
//       networkpolicies; nothing more), control-plane Deployment + Service, SaP DaemonSet (hostNetwork,
//       NET_ADMIN, tolerates every taint), gateway SaP Deployment. Every object carries `testbed.io/run=<prefix>`
//       when a prefix is given.
//   injectOverlayAgent(pod, { image?, namespace?, prefix?, tun? }): pod
//     → a copy of the pod with the guard init step and the agent as a native sidecar (initContainers, the agent
//       with restartPolicy: Always, NET_ADMIN, /dev/net/tun hostPath) and the opt-in label
//       `overlay.testbed.io/managed=true` the controller watches for. Idempotent.
//   validateObjects(objects): void — throws naming the object and the JSON path of the first schema error
//     (Kubernetes OpenAPI schema through kubernetes-models 4.5).
//   OVERLAY_IMAGE, MANAGED_LABEL, ROLE_LABEL, ports: see constants.ts.
export * from './constants.ts';
export {
  renderOverlayControlPlane,
  CONTROLLER_RULES,
  RUN_LABEL,
  type ControlPlaneOptions,
  type KubeObject,
} from './manifests.ts';
export { injectOverlayAgent, bootstrapGuardRuleset, type InjectOptions } from './inject.ts';
export { validateObjects } from './validate.ts';
