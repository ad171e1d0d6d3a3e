// Pure resolution of a parsed scenario: addresses assigned deterministically, references checked in the order
// the steps apply them. Policy files are read through the injected `readPolicies`, so this module does no I/O.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.ts';
import {
  IP_FAMILIES,
  type ClusterState,
  type IPFamily,
  type NetworkPolicy,
  type Pod,
} from '../policy/model.ts';
import {
  ADDRESS_PLAN_V6,
  carveNodeCIDR,
  cidrFamily,
  cidrsOverlap,
  inCIDR,
  ipFamily,
  nthHost,
} from './addresses.ts';
import type { AuthorizationPolicy } from '../policy/authz/model.ts';
import type { PodSpec, ScenarioParsed } from './schema.ts';
import { applyAction, namespaceWithImpliedLabel } from './state.ts';
import type { Action, Probe, Scenario, Step, Topology, TopologyCluster } from './types.ts';
import { compactTopology, probeFamilies, singleStackCompact } from './resolve-families.ts';

const canonical = (ip: string) => ipaddr.parse(ip).toNormalizedString();

/** Address plan (RFC 2544 benchmarking range for the underlay, so nothing looks like a real network). */
export const ADDRESS_PLAN = {
  clusterPodCIDR: (ci: number) => `10.${ci + 1}.0.0/16`,
  nodePodCIDR: (ci: number, ni: number) => `10.${ci + 1}.${ni + 1}.0/24`,
  underlayCIDR: (ci: number) => `198.18.${ci}.0/24`,
  nodeIP: (ci: number, ni: number) => `198.18.${ci}.${10 + ni}`,
  gateway: (ci: number) => `198.18.${ci}.1`,
  externalCIDR: '198.19.0.0/24',
  externalGateway: '198.19.0.1',
  externalIP: (k: number) => `198.19.0.${10 + k}`,
  /** First host number used for pods inside a node's pod CIDR. */
  firstPodHost: 10,
};

type PolicyReader = (ref: string, field: string) => NetworkPolicy[];
type AuthzReader = (ref: string, field: string) => AuthorizationPolicy[];

const noAuthzFiles: AuthzReader = (_ref, field) => {
  throw new Error(`${field}: AuthorizationPolicy files cannot be read here`);
};

export { nthHost } from './addresses.ts';

/** The plan's values for one family (IPv4: ADDRESS_PLAN, IPv6: ADDRESS_PLAN_V6). */
function plan(f: IPFamily) {
  return f === 'IPv4' ? ADDRESS_PLAN : ADDRESS_PLAN_V6;
}

/** `[[value, field]]` of a single-valued field and its list form (`podCIDR` / `podCIDRs[i]`). */
function givenValues(
  one: string | undefined,
  many: string[] | undefined,
  base: string,
  name: string,
): [string, string][] {
  return [
    ...(one !== undefined ? [[one, `${base}.${name}`] as [string, string]] : []),
    ...(many ?? []).map((v, i) => [v, `${base}.${name}s[${i}]`] as [string, string]),
  ];
}

/**
 * One value per family from a single-valued field and its list form: each value's family must be one of
 * `families` (`what` names the owner in errors), and a family may be given only once.
 */
function byFamily(
  given: [string, string][],
  families: IPFamily[],
  familyOfValue: (v: string) => IPFamily,
  what: string,
  err: (field: string, reason: string) => InputError,
): Map<IPFamily, string> {
  const out = new Map<IPFamily, string>();
  for (const [v, field] of given) {
    const f = familyOfValue(v);
    if (!families.includes(f))
      throw err(field, `${v} is an ${f} address but ${what} has ipFamilies [${families.join(', ')}]`);
    if (out.has(f) && out.get(f) !== v)
      throw err(field, `a second ${f} value (${out.get(f)} is already given); one per family`);
    out.set(f, v);
  }
  return out;
}

export function resolveScenario(
  file: string,
  s: ScenarioParsed,
  readPolicies: PolicyReader,
  readAuthorizationPolicies: AuthzReader = noAuthzFiles,
): Scenario {
  const err = (field: string, reason: string) => new InputError(file, field, reason);

  // Topology and its addresses: every value per family, the primary family's filling the single-valued fields.
  const nodeNames = new Set<string>();
  const nodeFields = new Map<string, string>();
  const clusters: TopologyCluster[] = s.topology.clusters.map((c, ci) => {
    const cf = `topology.clusters[${ci}]`;
    if (s.topology.clusters.findIndex((d) => d.name === c.name) !== ci)
      throw err(`${cf}.name`, `duplicate cluster name '${c.name}'`);
    const families: IPFamily[] = c.ipFamilies ?? ['IPv4'];
    const given = byFamily(
      givenValues(c.podCIDR, c.podCIDRs, cf, 'podCIDR'),
      families,
      cidrFamily,
      `cluster ${c.name}`,
      err,
    );
    const podCIDRs = families.map((f) => given.get(f) ?? plan(f).clusterPodCIDR(ci));
    const underlayCIDRs = families.map((f) => plan(f).underlayCIDR(ci));
    const gateways = families.map((f) => plan(f).gateway(ci));
    return {
      name: c.name,
      ipFamilies: families,
      podCIDR: podCIDRs[0]!,
      underlayCIDR: underlayCIDRs[0]!,
      gateway: gateways[0]!,
      podCIDRs,
      underlayCIDRs,
      gateways,
      nodes: c.nodes.map((n, ni) => {
        const field = `${cf}.nodes[${ni}]`;
        if (nodeNames.has(n.name))
          throw err(
            `${field}.name`,
            `duplicate node name '${n.name}' (node names are unique across clusters)`,
          );
        nodeNames.add(n.name);
        nodeFields.set(n.name, field);
        const own = byFamily(
          givenValues(n.podCIDR, n.podCIDRs, field, 'podCIDR'),
          families,
          cidrFamily,
          `cluster ${c.name}`,
          err,
        );
        const cidrs = families.map((f) => {
          const o = own.get(f);
          if (o) return o;
          const clusterCIDR = given.get(f);
          if (!clusterCIDR) return plan(f).nodePodCIDR(ci, ni);
          try {
            return carveNodeCIDR(clusterCIDR, ni);
          } catch (e) {
            throw err(`${cf}.podCIDR${c.podCIDR === clusterCIDR ? '' : 's'}`, (e as Error).message);
          }
        });
        const ips = families.map((f) => plan(f).nodeIP(ci, ni));
        return { name: n.name, cluster: c.name, ip: ips[0]!, podCIDR: cidrs[0]!, ips, podCIDRs: cidrs };
      }),
    };
  });
  const allNodes = clusters.flatMap((c) => c.nodes);
  // Overlapping node CIDRs (of one family) would make routing ambiguous.
  allNodes.forEach((a, i) =>
    allNodes.slice(i + 1).forEach((b) => {
      for (const ca of a.podCIDRs!)
        for (const cb of b.podCIDRs!)
          if (cidrFamily(ca) === cidrFamily(cb) && cidrsOverlap(ca, cb))
            throw err(
              `${nodeFields.get(b.name)}.podCIDR`,
              `${cidrFamily(cb)} pod CIDRs of nodes ${a.name} (${ca}) and ${b.name} (${cb}) overlap`,
            );
    }),
  );
  // The external segment carries every family some cluster has, IPv4 first.
  const extFamilies = IP_FAMILIES.filter((f) => clusters.some((c) => c.ipFamilies!.includes(f)));
  const externalNames = new Set<string>();
  // Explicit external addresses are reserved first, so an automatic one never collides with them.
  const extUsed = new Map<string, string>();
  s.topology.externals.forEach((e, k) =>
    givenValues(e.ip, e.ips, `topology.externals[${k}]`, 'ip').forEach(([v, field]) => {
      const c = canonical(v);
      if (extUsed.has(c)) throw err(field, `address ${v} is already used by another external host`);
      extUsed.set(c, field);
    }),
  );
  const autoExternal = (f: IPFamily, k: number) => {
    let j = k;
    while (extUsed.has(canonical(plan(f).externalIP(j)))) j += s.topology.externals.length;
    return plan(f).externalIP(j);
  };
  const externals = s.topology.externals.map((e, k) => {
    const ef = `topology.externals[${k}]`;
    if (externalNames.has(e.name)) throw err(`${ef}.name`, `duplicate external host '${e.name}'`);
    externalNames.add(e.name);
    const given = givenValues(e.ip, e.ips, ef, 'ip');
    const own = byFamily(given, extFamilies, ipFamily, 'every cluster of the scenario', err);
    for (const [v, field] of given)
      if (!inCIDR(v, plan(ipFamily(v)).externalCIDR))
        throw err(field, `must lie in the external segment ${plan(ipFamily(v)).externalCIDR}`);
    // Explicit addresses say which families the host has (a mixed external: one family only); none: all.
    const ips =
      given.length > 0
        ? extFamilies.filter((f) => own.has(f)).map((f) => own.get(f)!)
        : extFamilies.map((f) => autoExternal(f, k));
    return { name: e.name, ip: ips[0]!, ips };
  });
  const topology: Topology = {
    clusters,
    externals,
    externalCIDR: plan(extFamilies[0]!).externalCIDR,
    externalGateway: plan(extFamilies[0]!).externalGateway,
    externalCIDRs: extFamilies.map((f) => plan(f).externalCIDR),
    externalGateways: extFamilies.map((f) => plan(f).externalGateway),
    links: { ...s.topology.links },
  };

  // Namespaces.
  s.namespaces.forEach((n, i) => {
    if (s.namespaces.findIndex((m) => m.name === n.name) !== i)
      throw err(`namespaces[${i}].name`, `duplicate namespace '${n.name}'`);
  });
  const namespaces = s.namespaces.map((n) => namespaceWithImpliedLabel(n.name, n.labels));

  // Pods: addresses assigned per node in declaration order (initial pods, then addPod actions step by step), one
  // per family of the node's cluster; automatic addresses of the families share one host number.
  const nextHost = new Map<string, number>(allNodes.map((n) => [n.name, ADDRESS_PLAN.firstPodHost]));
  const usedIPs = new Set<string>();
  const clusterOf = new Map(clusters.map((c) => [c.name, c]));
  const toPod = (p: PodSpec, field: string): Pod => {
    const node = allNodes.find((n) => n.name === p.node);
    if (!node) throw err(`${field}.node`, `unknown node '${p.node}'`);
    if (!namespaces.some((n) => n.name === p.namespace))
      throw err(`${field}.namespace`, `namespace '${p.namespace}' is not declared`);
    const portNames = new Set<string>();
    p.ports.forEach((cp, j) => {
      if (cp.name) {
        if (portNames.has(cp.name))
          throw err(`${field}.ports[${j}].name`, `duplicate port name '${cp.name}'`);
        portNames.add(cp.name);
      }
    });
    const families = clusterOf.get(node.cluster)!.ipFamilies!;
    const given = givenValues(p.ip, p.ips, field, 'ip');
    const own = byFamily(given, families, ipFamily, `cluster ${node.cluster}`, err);
    for (const [v, f] of given) {
      const cidr = node.podCIDRs![families.indexOf(ipFamily(v))]!;
      if (!inCIDR(v, cidr)) throw err(f, `${v} is outside node ${node.name}'s pod CIDR ${cidr}`);
      const canon = canonical(v);
      if (usedIPs.has(canon)) throw err(f, `address ${v} is already used by another pod`);
    }
    let auto: string[] | undefined;
    if (families.some((f) => !own.has(f))) {
      do {
        const k = nextHost.get(node.name)!;
        nextHost.set(node.name, k + 1);
        try {
          auto = families.map((f, i) => own.get(f) ?? nthHost(node.podCIDRs![i]!, k));
        } catch (e) {
          throw err(field, (e as Error).message);
        }
      } while (auto.some((a, i) => !own.has(families[i]!) && usedIPs.has(canonical(a))));
    }
    const ips = auto ?? families.map((f) => own.get(f)!);
    for (const a of ips) usedIPs.add(canonical(a));
    // serviceAccount/sidecar only when given, so scenarios without them keep their hash.
    return {
      namespace: p.namespace,
      name: p.name,
      labels: { ...p.labels },
      node: node.name,
      cluster: node.cluster,
      ip: ips[0]!,
      ...(ips.length > 1 ? { ips } : {}),
      ports: p.ports.map((cp) => ({ ...cp })),
      ...(p.serviceAccount !== undefined ? { serviceAccount: p.serviceAccount } : {}),
      ...(p.sidecar !== undefined ? { sidecar: p.sidecar } : {}),
    };
  };
  const pods: Pod[] = [];
  s.pods.forEach((p, i) => {
    if (pods.some((q) => q.namespace === p.namespace && q.name === p.name))
      throw err(`pods[${i}].name`, `duplicate pod ${p.namespace}/${p.name}`);
    pods.push(toPod(p, `pods[${i}]`));
  });

  // Policies (inline or from files) applied in order, then the steps; references are checked as they apply.
  const expand = (src: ScenarioParsed['policies'][number], field: string): NetworkPolicy[] =>
    'file' in src ? readPolicies(src.file, `${field}.file`) : [src as NetworkPolicy];
  let state: ClusterState = {
    namespaces,
    pods,
    nodes: allNodes.map((n) => singleStackCompact({ ...n })),
    externals: externals.map((e) => singleStackCompact({ ...e })),
    policies: [],
    ...(s.meshRootNamespace !== undefined ? { meshRootNamespace: s.meshRootNamespace } : {}),
  };
  s.policies.forEach((src, i) => {
    for (const p of expand(src, `policies[${i}]`)) {
      try {
        state = applyAction(state, { createPolicy: p });
      } catch (e) {
        throw err(`policies[${i}]`, (e as Error).message);
      }
    }
  });
  const expandAuthz = (
    src: ScenarioParsed['authorizationPolicies'][number],
    field: string,
  ): AuthorizationPolicy[] =>
    'file' in src ? readAuthorizationPolicies(src.file, `${field}.file`) : [src as AuthorizationPolicy];
  s.authorizationPolicies.forEach((src, i) => {
    for (const p of expandAuthz(src, `authorizationPolicies[${i}]`)) {
      try {
        state = applyAction(state, { createAuthorizationPolicy: p });
      } catch (e) {
        throw err(`authorizationPolicies[${i}]`, (e as Error).message);
      }
    }
  });
  const initial = state;

  const steps: Step[] = s.steps.map((st, si) => {
    const actions: Action[] = [];
    st.actions.forEach((a, ai) => {
      const field = `steps[${si}].actions[${ai}]`;
      let resolved: Action[];
      if ('createPolicy' in a)
        resolved = expand(a.createPolicy, `${field}.createPolicy`).map((p) => ({ createPolicy: p }));
      else if ('createAuthorizationPolicy' in a)
        resolved = expandAuthz(a.createAuthorizationPolicy, `${field}.createAuthorizationPolicy`).map(
          (p) => ({ createAuthorizationPolicy: p }),
        );
      else if ('addPod' in a) resolved = [{ addPod: toPod(a.addPod, `${field}.addPod`) }];
      else resolved = [a as Action];
      for (const r of resolved) {
        try {
          state = applyAction(state, r);
        } catch (e) {
          throw err(`${field}.${Object.keys(a)[0]}`, (e as Error).message);
        }
        actions.push(r);
      }
    });
    const probes: Probe[] = [];
    st.probes.forEach((pr, pi) => {
      for (const key of ['from', 'to'] as const)
        pr[key]?.forEach((ref, k) => {
          if (!endpointExists(state, ref))
            throw err(`steps[${si}].probes[${pi}].${key}[${k}]`, `unknown endpoint '${ref}' at this step`);
        });
      probes.push(...probeFamilies(state, pr, `steps[${si}].probes[${pi}]`, err));
    });
    return { name: st.name ?? `step ${si + 1}`, actions, probes };
  });

  // Measurements name endpoints that exist in the initial state.
  s.measurements.forEach((m, i) => {
    for (const key of ['from', 'to'] as const)
      if (!endpointExists(initial, m[key]))
        throw err(`measurements[${i}].${key}`, `unknown endpoint '${m[key]}'`);
    if (s.measurements.findIndex((n) => n.name === m.name) !== i)
      throw err(`measurements[${i}].name`, `duplicate measurement name '${m.name}'`);
  });

  compactTopology(topology);
  const body = {
    name: s.name,
    topology,
    initial,
    steps,
    measurements: s.measurements,
    modes: s.modes,
    sweep: s.sweep,
  };
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  return { file, description: s.description ?? '', hash, ...body, sweep: s.sweep };
}

export function endpointExists(state: ClusterState, ref: string): boolean {
  if (ref.startsWith('ext:')) return state.externals.some((e) => e.name === ref.slice(4));
  if (ref.startsWith('node:')) return state.nodes.some((n) => n.name === ref.slice(5));
  const [ns, name] = ref.split('/');
  return state.pods.some((p) => p.namespace === ns && p.name === name);
}
