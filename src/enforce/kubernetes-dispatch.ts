// The one place where an enforcement mode depends on the platform: on a Kubernetes network, modes act through
// the API (kubernetes.ts, kubernetes-overlay.ts); elsewhere the local factory is used unchanged.
import type { KubernetesNetwork } from '../platform/kubernetes/network.ts';
import type { Network } from '../platform/platform.ts';
import type { Mode } from '../scenario/schema.ts';
import { UsageError } from '../errors.ts';
import type { Enforcer, EnforcerFactory, EnforcerOptions } from './enforcer.ts';
import { KubernetesEnforcer } from './kubernetes.ts';
import { KubernetesOverlayEnforcer } from './kubernetes-overlay.ts';

function isKubernetes(net: Network): net is KubernetesNetwork {
  return (net as { kubernetes?: boolean }).kubernetes === true;
}

export function onKubernetes(mode: Mode, local: EnforcerFactory): EnforcerFactory {
  return (net: Network, opts?: EnforcerOptions): Enforcer => {
    if (!isKubernetes(net)) return local(net, opts);
    // The kernel data path and the mesh sidecars are deployed by the Mininet harness only so far.
    if (mode !== 'none' && mode !== 'native' && mode !== 'overlay')
      throw new UsageError(`mode ${mode} runs on Mininet only; on Kubernetes use none, native or overlay`);
    return mode === 'overlay' ? new KubernetesOverlayEnforcer(net) : new KubernetesEnforcer(mode, net);
  };
}
