// Mode `overlay` on Kubernetes: the reference overlay deployed as an operator would deploy it (its generated
// control plane, SaP DaemonSet and gateway from reference-impl/k8s/, the agent injected into every workload pod
// as a native sidecar), with the NetworkPolicies posted to the API for the overlay's controller to watch.
//
// The CNI must not also enforce them, or a cell would show the intersection of two enforcers. How: on kind the
// run uses kindnet and switches its policy controller off (kindnetd --network-policy=false, leaving its plain
// bridge), recorded in the environment as cniEnforced=false; Calico and Cilium would enforce the same objects,
// so `run` refuses overlay with them. On an existing cluster the CNI is the operator's: the run records that
// whether it enforced is unknown.
import { directOverlayIp } from '../../reference-impl/control-plane/addressing.ts';
import type { ClusterState, EndpointRef } from '../policy/model.ts';
import type { KubernetesNetwork } from '../platform/kubernetes/network.ts';
import type { Action } from '../scenario/types.ts';
import type { ApplyReport } from './enforcer.ts';
import { KubernetesEnforcer } from './kubernetes.ts';

export class KubernetesOverlayEnforcer extends KubernetesEnforcer {
  constructor(net: KubernetesNetwork) {
    super('overlay', net);
  }

  override async apply(state: ClusterState): Promise<ApplyReport> {
    await this.net.deployOverlay();
    return super.apply(state);
  }

  override update(state: ClusterState, change: Action[]): Promise<ApplyReport> {
    return super.update(state, change);
  }

  /**
   * Probes go to the destination's overlay address, through the source's agent. The address is the control
   * plane's pure function of the real pod address (reference-impl/control-plane/addressing.ts), so the harness
   * computes the same one the controller assigns.
   */
  override targetAddress(from: EndpointRef, to: EndpointRef): string {
    const real = super.targetAddress(from, to);
    return directOverlayIp(real) ?? real;
  }
}
