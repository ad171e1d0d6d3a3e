// Mode `none`: no enforcement at all, the baseline every other mode is measured and checked against.
import type { EndpointRef, IPFamily } from '../policy/model.ts';
import { familyAddress, type Network } from '../platform/platform.ts';
import type { ApplyReport, Enforcer, EnforcerFactory } from './enforcer.ts';

export class NoneEnforcer implements Enforcer {
  readonly mode = 'none' as const;
  constructor(private readonly net: Pick<Network, 'address' | 'addresses'>) {}

  async apply(): Promise<ApplyReport> {
    return { programmingMs: 0 };
  }

  async update(): Promise<ApplyReport> {
    return { programmingMs: 0 };
  }

  targetAddress(_from: EndpointRef, to: EndpointRef, family?: IPFamily): string {
    return familyAddress(this.net, to, family);
  }

  unsupportedProtocols(): string[] {
    return ['SCTP']; // no SCTP sockets on this kernel
  }

  async teardown(): Promise<void> {}
}

export const createNoneEnforcer: EnforcerFactory = (net) => new NoneEnforcer(net);
