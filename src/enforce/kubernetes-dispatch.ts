// The one place where an enforcement mode depends on the platform: on a Kubernetes network, modes act through
// the API (kubernetes.ts, kubernetes-overlay.ts); elsewhere the local factory is used unchanged.
import type { KubernetesNetwork } from '../platform/kubernetes/network.ts';
import type { Network } from '../platform/platform.ts';
import type { Mode } from '../scenario/schema.ts';
import type { Enforcer, EnforcerFactory } from './enforcer.ts';
import { KubernetesEnforcer } from './kubernetes.ts';
import { KubernetesOverlayEnforcer } from './kubernetes-overlay.ts';

function isKubernetes(net: Network): net is KubernetesNetwork {
  return (net as { kubernetes?: boolean }).kubernetes === true;
}

export function onKubernetes(mode: Mode, local: EnforcerFactory): EnforcerFactory {
  return (net: Network): Enforcer => {
    if (!isKubernetes(net)) return local(net);
    return mode === 'overlay' ? new KubernetesOverlayEnforcer(net) : new KubernetesEnforcer(mode, net);
  };
}
