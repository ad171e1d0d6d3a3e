// Pure resolution of a parsed scenario: addresses assigned deterministically, references checked in the order
// the steps apply them. Policy files are read through the injected `readPolicies`, so this module does no I/O.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.ts';
import type { ClusterState, NetworkPolicy, Pod } from '../policy/model.ts';
import type { AuthorizationPolicy } from '../policy/authz/model.ts';
import type { PodSpec, ScenarioParsed } from './schema.ts';
import { applyAction, namespaceWithImpliedLabel } from './state.ts';
import type { Action, Scenario, Step, Topology, TopologyCluster } from './types.ts';

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

function inCIDR(ip: string, cidr: string): boolean {
  const addr = ipaddr.parse(ip);
  const [net, bits] = ipaddr.parseCIDR(cidr);
  return addr.kind() === net.kind() && addr.match(net, bits);
}

/** The k-th host address of an IPv4 CIDR (k counted from the network address). */
export function nthHost(cidr: string, k: number): string {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  if (net.kind() !== 'ipv4') throw new Error('pod CIDRs must be IPv4 for automatic addressing');
  const size = 2 ** (32 - bits);
  if (k >= size - 1) throw new Error(`pod CIDR ${cidr} has no room for host number ${k}`);
  const base = (net as ipaddr.IPv4).octets.reduce((a, o) => a * 256 + o, 0);
  const v = base + k;
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

function carveNodeCIDR(clusterCIDR: string, ni: number, file: string, field: string): string {
  const [net, bits] = ipaddr.parseCIDR(clusterCIDR);
  if (net.kind() !== 'ipv4' || bits > 23)
    throw new InputError(
      file,
      field,
      `cluster podCIDR ${clusterCIDR} must be IPv4 and /23 or larger to carve node /24s (or give each node a podCIDR)`,
    );
  return `${nthHost(clusterCIDR, (ni + 1) * 256)}/24`;
}

export function resolveScenario(
  file: string,
  s: ScenarioParsed,
  readPolicies: PolicyReader,
  readAuthorizationPolicies: AuthzReader = noAuthzFiles,
): Scenario {
  const err = (field: string, reason: string) => new InputError(file, field, reason);

  // Topology and its addresses.
  const nodeNames = new Set<string>();
  const clusters: TopologyCluster[] = s.topology.clusters.map((c, ci) => {
    if (s.topology.clusters.findIndex((d) => d.name === c.name) !== ci)
      throw err(`topology.clusters[${ci}].name`, `duplicate cluster name '${c.name}'`);
    const podCIDR = c.podCIDR ?? ADDRESS_PLAN.clusterPodCIDR(ci);
    return {
      name: c.name,
      podCIDR,
      underlayCIDR: ADDRESS_PLAN.underlayCIDR(ci),
      gateway: ADDRESS_PLAN.gateway(ci),
      nodes: c.nodes.map((n, ni) => {
        const field = `topology.clusters[${ci}].nodes[${ni}]`;
        if (nodeNames.has(n.name))
          throw err(
            `${field}.name`,
            `duplicate node name '${n.name}' (node names are unique across clusters)`,
          );
        nodeNames.add(n.name);
        const nodeCIDR =
          n.podCIDR ??
          (c.podCIDR
            ? carveNodeCIDR(c.podCIDR, ni, file, `topology.clusters[${ci}].podCIDR`)
            : ADDRESS_PLAN.nodePodCIDR(ci, ni));
        if (ipaddr.parseCIDR(nodeCIDR)[0].kind() !== 'ipv4')
          throw err(`${field}.podCIDR`, 'node pod CIDRs must be IPv4');
        return { name: n.name, cluster: c.name, ip: ADDRESS_PLAN.nodeIP(ci, ni), podCIDR: nodeCIDR };
      }),
    };
  });
  const allNodes = clusters.flatMap((c) => c.nodes);
  // Overlapping node CIDRs would make routing ambiguous.
  allNodes.forEach((a, i) =>
    allNodes.slice(i + 1).forEach((b) => {
      if (
        inCIDR(ipaddr.parseCIDR(a.podCIDR)[0].toString(), b.podCIDR) ||
        inCIDR(ipaddr.parseCIDR(b.podCIDR)[0].toString(), a.podCIDR)
      )
        throw err(
          'topology.clusters',
          `pod CIDRs of nodes ${a.name} (${a.podCIDR}) and ${b.name} (${b.podCIDR}) overlap`,
        );
    }),
  );
  const externalNames = new Set<string>();
  const externals = s.topology.externals.map((e, k) => {
    if (externalNames.has(e.name))
      throw err(`topology.externals[${k}].name`, `duplicate external host '${e.name}'`);
    externalNames.add(e.name);
    const ip = e.ip ?? ADDRESS_PLAN.externalIP(k);
    if (!inCIDR(ip, ADDRESS_PLAN.externalCIDR))
      throw err(
        `topology.externals[${k}].ip`,
        `must lie in the external segment ${ADDRESS_PLAN.externalCIDR}`,
      );
    return { name: e.name, ip };
  });
  const topology: Topology = {
    clusters,
    externals,
    externalCIDR: ADDRESS_PLAN.externalCIDR,
    externalGateway: ADDRESS_PLAN.externalGateway,
    links: { ...s.topology.links },
  };

  // Namespaces.
  s.namespaces.forEach((n, i) => {
    if (s.namespaces.findIndex((m) => m.name === n.name) !== i)
      throw err(`namespaces[${i}].name`, `duplicate namespace '${n.name}'`);
  });
  const namespaces = s.namespaces.map((n) => namespaceWithImpliedLabel(n.name, n.labels));

  // Pods: addresses assigned per node in declaration order (initial pods, then addPod actions step by step).
  const nextHost = new Map<string, number>(allNodes.map((n) => [n.name, ADDRESS_PLAN.firstPodHost]));
  const usedIPs = new Set<string>();
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
    let ip = p.ip;
    if (ip) {
      if (!inCIDR(ip, node.podCIDR))
        throw err(`${field}.ip`, `${ip} is outside node ${node.name}'s pod CIDR ${node.podCIDR}`);
    } else {
      do {
        const k = nextHost.get(node.name)!;
        nextHost.set(node.name, k + 1);
        try {
          ip = nthHost(node.podCIDR, k);
        } catch (e) {
          throw err(field, (e as Error).message);
        }
      } while (usedIPs.has(ip));
    }
    if (usedIPs.has(ip)) throw err(`${field}.ip`, `address ${ip} is already used by another pod`);
    usedIPs.add(ip);
    // serviceAccount/sidecar only when given, so scenarios without them keep their hash.
    return {
      namespace: p.namespace,
      name: p.name,
      labels: { ...p.labels },
      node: node.name,
      cluster: node.cluster,
      ip,
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
    nodes: allNodes.map((n) => ({ ...n })),
    externals: externals.map((e) => ({ ...e })),
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
    st.probes.forEach((pr, pi) => {
      for (const key of ['from', 'to'] as const)
        pr[key]?.forEach((ref, k) => {
          if (!endpointExists(state, ref))
            throw err(`steps[${si}].probes[${pi}].${key}[${k}]`, `unknown endpoint '${ref}' at this step`);
        });
    });
    return { name: st.name ?? `step ${si + 1}`, actions, probes: st.probes };
  });

  // Measurements name endpoints that exist in the initial state.
  s.measurements.forEach((m, i) => {
    for (const key of ['from', 'to'] as const)
      if (!endpointExists(initial, m[key]))
        throw err(`measurements[${i}].${key}`, `unknown endpoint '${m[key]}'`);
    if (s.measurements.findIndex((n) => n.name === m.name) !== i)
      throw err(`measurements[${i}].name`, `duplicate measurement name '${m.name}'`);
  });

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
