// Names, labels, ports and the pinned image the overlay's Kubernetes deployment uses. The manifest generator
// (manifests.ts, inject.ts) and the controller (../control-plane/k8s/) read the same constants, so what is
// deployed and what the controller watches for cannot drift apart.

/** The overlay image built from reference-impl/Dockerfile (control plane, SaP, agent, TUN addon). */
export const OVERLAY_IMAGE = 'policy-testbed/overlay:0.1.0';

/**
 * Opt-in: the controller manages exactly the pods carrying this label with value "true" (injectOverlayAgent
 * sets it). A label rather than an annotation, so the controller can watch with a labelSelector.
 */
export const MANAGED_LABEL = 'overlay.testbed.io/managed';
export const MANAGED_VALUE = 'true';
/** Role of an overlay component pod: `control-plane`, `sap` (node SaP) or `gateway` (cluster gateway SaP). */
export const ROLE_LABEL = 'overlay.testbed.io/role';
export type Role = 'control-plane' | 'sap' | 'gateway';
export const NAME_LABEL = 'app.kubernetes.io/name';
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF = 'policy-overlay';

export const CONTROL_PLANE_NAME = 'overlay-control-plane';
export const SAP_NAME = 'overlay-sap';
export const GATEWAY_NAME = 'overlay-gateway';
export const AGENT_CONTAINER = 'overlay-agent';
export const GUARD_CONTAINER = 'overlay-guard';

/** Control plane status API (GET /status, GET /healthz), served on the pod network. */
export const CONTROL_PLANE_PORT = 9400;
/** Config API of node SaPs (on the node's address: hostNetwork) and of gateway SaPs (on the pod address). */
export const SAP_API_PORT = 9401;
/** Config API of the agent sidecar, on the pod address. */
export const AGENT_API_PORT = 9402;
/** GUE over UDP (IANA `gue`), as everywhere else in the overlay. */
export { GUE_PORT } from '../sap/config.ts';

/** Working directory of the sources inside the image. */
export const APP_DIR = '/opt/policy-overlay';
/** How every component starts: Node with tsx's loader, from the sources (no separate build step). */
export const tsxCommand = (script: string, args: string[]): string[] => [
  'node',
  '--import',
  'tsx',
  `${APP_DIR}/${script}`,
  ...args,
];
