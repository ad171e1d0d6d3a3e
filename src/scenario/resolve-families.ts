// Family-specific parts of resolution (pure): probes expanded per address family, and single-stack IPv4
// topologies compacted so they resolve exactly as before families existed (same data, same scenario hash).
import type { InputError } from '../errors.ts';
import { addressesOf, familyOf } from '../policy/family.ts';
import { IP_FAMILIES, type ClusterState, type IPFamily } from '../policy/model.ts';
import type { ProbeSpec } from './schema.ts';
import type { Probe, Topology } from './types.ts';

/**
 * A probe spec as one probe per family: the given family, or every family some source and some destination both
 * have (IPv4 first), each with its expected text. A family nobody can probe, or an expected table for a family
 * not probed, is an input error (it would silently never be checked).
 */
export function probeFamilies(
  state: ClusterState,
  pr: ProbeSpec,
  field: string,
  err: (field: string, reason: string) => InputError,
): Probe[] {
  const pods = state.pods.map((p) => `${p.namespace}/${p.name}`);
  const fams = (refs: string[]) =>
    new Set(refs.flatMap((r) => addressesOf(endpointOf(state, r)).map(familyOf)));
  const src = fams(pr.from ?? pods);
  const dst = fams(pr.to ?? pods);
  const usable = IP_FAMILIES.filter((f) => src.has(f) && dst.has(f));
  let families: IPFamily[];
  if (pr.family) {
    if (!usable.includes(pr.family))
      throw err(
        `${field}.family`,
        `no source and destination of this probe both have an ${pr.family} address`,
      );
    families = [pr.family];
  } else families = usable;
  const { expected, family: _f, ...rest } = pr;
  if (expected !== undefined && typeof expected !== 'string')
    for (const f of IP_FAMILIES)
      if (expected[f] !== undefined && !families.includes(f))
        throw err(
          `${field}.expected.${f}`,
          `the probe runs no ${f} connections (families: ${families.join(', ') || 'none'})`,
        );
  return families.map((family) => {
    const text = typeof expected === 'string' ? expected : expected?.[family];
    // A single-family world needs no family tag (so IPv4 scenarios resolve exactly as before families existed).
    const tag = singleFamily(state) ? {} : { family };
    return { ...rest, ...tag, ...(text !== undefined ? { expected: text } : {}) };
  });
}

function singleFamily(state: ClusterState): boolean {
  const all = [...state.pods, ...state.nodes, ...state.externals].flatMap((x) =>
    addressesOf(x).map(familyOf),
  );
  return new Set(all).size <= 1;
}

/** Drops the per-family lists of a single-address object (`ips: [ip]` says nothing `ip` does not). */
export function singleStackCompact<T extends { ips?: string[]; podCIDRs?: string[] }>(x: T): T {
  if (x.ips && x.ips.length <= 1) delete x.ips;
  if (x.podCIDRs && x.podCIDRs.length <= 1) delete x.podCIDRs;
  return x;
}

/** IPv4-only clusters resolve exactly as before families existed; IPv6 and dual-stack ones carry their lists. */
export function compactTopology(t: Topology): void {
  for (const c of t.clusters) {
    if (c.ipFamilies?.length === 1 && c.ipFamilies[0] === 'IPv4') {
      delete c.ipFamilies;
      delete c.podCIDRs;
      delete c.underlayCIDRs;
      delete c.gateways;
    }
    c.nodes.forEach(singleStackCompact);
  }
  t.externals.forEach(singleStackCompact);
  if (t.externalCIDRs?.length === 1 && familyOf(t.externalCIDRs[0]!) === 'IPv4') {
    delete t.externalCIDRs;
    delete t.externalGateways;
  }
}

function endpointOf(state: ClusterState, ref: string): { ip: string; ips?: string[] } {
  if (ref.startsWith('ext:')) return state.externals.find((e) => e.name === ref.slice(4))!;
  if (ref.startsWith('node:')) return state.nodes.find((n) => n.name === ref.slice(5))!;
  const [ns, name] = ref.split('/');
  return state.pods.find((p) => p.namespace === ns && p.name === name)!;
}
