// The Mininet platform: real Mininet (Debian package) driven from TypeScript.
import type { Pod } from '../../policy/model.ts';
import type { Topology } from '../../scenario/types.ts';
import type { Network, Platform } from '../platform.ts';
import { checkPrerequisites } from '../prereq.ts';
import { MininetNetwork } from './net.ts';
import { isPrefix, newPrefix } from './topo.ts';

export const mininetPlatform: Platform = {
  name: 'mininet',
  checkPrerequisites: () => checkPrerequisites(),
  async up(topology: Topology, pods: Pod[], opts: { prefix?: string } = {}): Promise<Network> {
    const prefix = opts.prefix ?? newPrefix();
    if (!isPrefix(prefix)) throw new Error(`run prefix '${prefix}' must be 'tb' + 4 hex digits`);
    return MininetNetwork.up(prefix, topology, pods);
  },
};
