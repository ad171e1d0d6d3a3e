// Real Mininet topologies (root): routing across nodes, clusters and the external segment, pod churn,
// spawned programs, and teardown that leaves nothing behind.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { mininetPlatform } from '../../src/platform/mininet/index.ts';
import { leftovers } from '../../src/platform/mininet/sweep.ts';
import { newPrefix } from '../../src/platform/mininet/topo.ts';
import type { Network } from '../../src/platform/platform.ts';
import { statePath } from '../../src/platform/runstate.ts';
import { parseScenario } from '../../src/scenario/load.ts';

const TWO_CLUSTERS = `
name: two-clusters
topology:
  clusters:
    - name: c1
      nodes: [{ name: n1 }, { name: n2 }]
    - name: c2
      nodes: [{ name: m1 }]
  externals: [{ name: web }]
namespaces: [{ name: x }, { name: y }]
pods:
  - { namespace: x, name: a, node: n1, ports: [{ port: 80 }] }
  - { namespace: x, name: b, node: n1, ports: [{ port: 80 }] }
  - { namespace: y, name: c, node: n2, ports: [{ port: 80 }] }
  - { namespace: y, name: d, node: m1, ports: [{ port: 80 }] }
`;

const scenario = parseScenario('two-clusters.yaml', TWO_CLUSTERS);
const nets: Network[] = [];
afterAll(async () => {
  for (const n of nets) await n.down();
});

async function up(prefix?: string): Promise<Network> {
  const net = await mininetPlatform.up(scenario.topology, scenario.initial.pods, prefix ? { prefix } : {});
  nets.push(net);
  return net;
}

async function ping(net: Network, from: string, ip: string): Promise<boolean> {
  const r = await net.exec(from, ['ping', '-c', '1', '-W', '2', ip], { timeoutMs: 5000 });
  return r.code === 0;
}

describe('mininet platform', () => {
  it('routes every pod and external host to every other one, then removes everything', async () => {
    const net = await up();
    const endpoints = net.hosts().filter((h) => h.includes('/') || h.startsWith('ext:'));
    expect(endpoints.sort()).toEqual(['ext:web', 'x/a', 'x/b', 'y/c', 'y/d']);
    // host shells, one bridge per cluster + the external one, the driver
    expect(leftovers(net.prefix).pids.length).toBe(
      net.hosts().length + scenario.topology.clusters.length + 2,
    );
    expect(existsSync(statePath(net.prefix))).toBe(true);
    const pairs = endpoints.flatMap((a) => endpoints.filter((b) => b !== a).map((b) => [a, b] as const));
    const results = await Promise.all(
      pairs.map(async ([a, b]) => [`${a}->${b}`, await ping(net, a, net.address(b))] as const),
    );
    expect(results.filter(([, ok]) => !ok)).toEqual([]);
    // No NAT: the destination sees the pod's own address as source.
    const route = await net.exec('y/d', ['ip', '-4', '-o', 'addr', 'show']);
    expect(route.stdout).toContain(net.address('y/d'));
    await net.down();
    expect(leftovers(net.prefix)).toEqual({ links: [], pids: [] });
    expect(existsSync(statePath(net.prefix))).toBe(false);
    await net.down(); // safe twice
  });

  it('two runs of the same topology (same addresses) coexist and tear down independently', async () => {
    const [a, b] = await Promise.all([up(), up()]);
    expect(a.prefix).not.toBe(b.prefix);
    expect(await ping(a, 'x/a', a.address('y/d'))).toBe(true);
    expect(await ping(b, 'x/a', b.address('y/d'))).toBe(true);
    await a.down();
    expect(leftovers(a.prefix)).toEqual({ links: [], pids: [] });
    expect(await ping(b, 'y/d', b.address('x/b'))).toBe(true);
    await b.down();
    expect(leftovers(b.prefix)).toEqual({ links: [], pids: [] });
  });

  it('builds 3 nodes x 30 pods (per-node configuration longer than one shell line)', async () => {
    const pods = Array.from(
      { length: 90 },
      (_, k) => `  - { namespace: x, name: p${k}, node: n${(k % 3) + 1} }`,
    ).join('\n');
    const big = parseScenario(
      'big.yaml',
      `name: big\ntopology:\n  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }, { name: n3 }] }]\nnamespaces: [{ name: x }]\npods:\n${pods}\n`,
    );
    const net = await mininetPlatform.up(big.topology, big.initial.pods);
    nets.push(net);
    expect(net.hosts().filter((h) => h.startsWith('x/'))).toHaveLength(90);
    expect(await ping(net, 'x/p0', net.address('x/p89'))).toBe(true);
    expect(await ping(net, 'x/p88', net.address('x/p1'))).toBe(true);
    await net.down();
    expect(leftovers(net.prefix)).toEqual({ links: [], pids: [] });
  });

  it('adds and removes pods, and ends spawned programs on down', async () => {
    const net = await up();
    const pod = { ...scenario.initial.pods[0]!, name: 'late', ip: '10.1.2.99', node: 'n2' };
    await net.addPod(pod);
    expect(await ping(net, 'y/d', '10.1.2.99')).toBe(true);
    const sleeper = net.spawn('x/late', ['sleep', '600']);
    const exited = new Promise((res) => sleeper.once('exit', res));
    await net.removePod('x/late');
    await exited;
    expect(await ping(net, 'y/d', '10.1.2.99')).toBe(false);
    const other = net.spawn('x/a', ['sleep', '600']);
    const pid = other.pid!;
    await net.down();
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(leftovers(net.prefix)).toEqual({ links: [], pids: [] });
  });

  it('refuses delay and loss before building anything, naming netem', async () => {
    const prefix = newPrefix();
    const topo = { ...scenario.topology, links: { delayMs: 5, lossPercent: 1 } };
    await expect(mininetPlatform.up(topo, scenario.initial.pods, { prefix })).rejects.toThrow(UsageError);
    await expect(mininetPlatform.up(topo, scenario.initial.pods, { prefix })).rejects.toThrow(/netem/);
    expect(leftovers(prefix)).toEqual({ links: [], pids: [] });
  });

  it('shapes bandwidth with HTB when the scenario asks for it', async () => {
    const net = await mininetPlatform.up(
      { ...scenario.topology, links: { bandwidthMbit: 50, mtu: 1400 } },
      scenario.initial.pods,
    );
    nets.push(net);
    const q = await net.exec('x/a', ['tc', 'qdisc', 'show']);
    expect(q.stdout).toMatch(/htb/);
    const l = await net.exec('x/a', ['ip', '-o', 'link', 'show']);
    expect(l.stdout).toMatch(/mtu 1400/);
    expect(await ping(net, 'x/a', net.address('y/d'))).toBe(true);
    await net.down();
    expect(leftovers(net.prefix)).toEqual({ links: [], pids: [] });
  });
});
