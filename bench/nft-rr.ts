// RR/CRR latency through native enforcement with N synthetic policies vs no enforcement, on one Mininet network
// (client pod on n1, server pod on n2: the source node enforces egress, the destination node ingress). Modes
// alternate within each repetition; the added latency is native minus none on the same path.
import { stringify } from 'yaml';
import { NativeEnforcer } from '../src/enforce/native/index.ts';
import { mininetPlatform } from '../src/platform/mininet/index.ts';
import type { Network } from '../src/platform/platform.ts';
import type { ClusterState, NetworkPolicy } from '../src/policy/model.ts';
import { parseScenario } from '../src/scenario/load.ts';
import { runCrr } from '../src/traffic/crr.ts';
import { runRr } from '../src/traffic/rr.ts';
import { startProbeServers } from '../src/traffic/servers.ts';
import { syntheticPolicies } from './nft-state.ts';

const TIERS = ['web', 'api', 'db'];

function benchScenario() {
  const pods = [];
  for (let i = 0; i < 12; i++)
    pods.push({
      namespace: `ns${i % 5}`,
      name: i === 0 ? 'client' : i === 5 ? 'server' : `p${i}`,
      node: i < 6 ? 'n1' : 'n2',
      labels: { app: `app${i % 10}`, tier: TIERS[i % 3]!, ver: `v${i % 4}` },
      ports: [
        { port: 80, name: 'http' },
        { port: 80, protocol: 'UDP' },
      ],
    });
  // server must live on n2 for a cross-node path: swap it there.
  pods[5]!.node = 'n2';
  pods[6]!.node = 'n1';
  const doc = {
    name: 'nft-rr-bench',
    topology: { clusters: [{ name: 'c1', nodes: [{ name: 'n1' }, { name: 'n2' }] }] },
    namespaces: Array.from({ length: 5 }, (_, i) => ({ name: `ns${i}`, labels: { team: `t${i % 3}` } })),
    pods,
  };
  return parseScenario('bench/nft-rr (generated)', stringify(doc));
}

/** Allows the measured flow last, so a new connection walks every selecting policy's chain first. */
function allowBench(): NetworkPolicy {
  const peer = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ns0' } } }];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'ns0', name: 'zz-allow-bench' },
    spec: {
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: peer, ports: [{ port: 80 }, { port: 80, protocol: 'UDP' }] }],
      egress: [{ to: peer, ports: [{ port: 80 }, { port: 80, protocol: 'UDP' }] }],
    },
  };
}

async function chainLength(net: Network, node: string, chain: string): Promise<number> {
  const r = await net.exec(`node:${node}`, ['nft', 'list', 'chain', 'inet', 'k8s_netpol', chain]);
  return (r.stdout.match(/\bjump\b/g) ?? []).length;
}

export async function rrBench(opts: { requests: number; reps: number; policies: number }): Promise<void> {
  const sc = benchScenario();
  const state: ClusterState = {
    ...sc.initial,
    policies: [...syntheticPolicies(opts.policies), allowBench()],
  };
  await mininetPlatform.checkPrerequisites();
  const net = await mininetPlatform.up(sc.topology, sc.initial.pods);
  const enforcer = new NativeEnforcer(net);
  const servers = await startProbeServers(net, [{ host: 'ns0/server', tcp: [80], udp: [80] }]);
  try {
    const address = net.address('ns0/server');
    const report = await enforcer.apply(state);
    console.log(
      `== RR/CRR ns0/client (n1) → ns0/server (n2), ${opts.policies} policies: programming ${report.programmingMs.toFixed(1)} ms`,
      report.detail,
    );
    console.log(
      `   server ingress chain jumps ${await chainLength(net, 'n2', 'pod_in_ns0_server')}, client egress chain jumps ${await chainLength(net, 'n1', 'pod_eg_ns0_client')}`,
    );
    await enforcer.teardown();
    const modes = ['none', 'native'] as const;
    const res: Record<string, Record<string, number[]>> = { none: {}, native: {} };
    const put = (m: string, k: string, v: number) => (res[m]![k] ??= []).push(v);
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const mode of rep % 2 ? [...modes].reverse() : modes) {
        if (mode === 'native') await enforcer.apply(state);
        const base = { from: 'ns0/client', address, port: 80, requests: opts.requests, warmup: 500 };
        for (const protocol of ['TCP', 'UDP'] as const) {
          const r = await runRr(net, { ...base, protocol });
          put(mode, `rr-${protocol}-p50`, r.p50Us);
          put(mode, `rr-${protocol}-p99`, r.p99Us);
        }
        const c = await runCrr(net, {
          ...base,
          requests: Math.max(200, Math.floor(opts.requests / 5)),
          warmup: 100,
        });
        put(mode, 'crr-p50', c.p50Us);
        put(mode, 'crr-p99', c.p99Us);
        if (mode === 'native') await enforcer.teardown();
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    for (const k of Object.keys(res.none!)) {
      const a = med(res.none![k]!);
      const b = med(res.native![k]!);
      console.log(
        `   ${k.padEnd(12)} none ${a} µs  native ${b} µs  added ${b - a} µs   (per rep none [${res.none![k]!.join(', ')}] native [${res.native![k]!.join(', ')}])`,
      );
    }
  } finally {
    await servers.stop().catch(() => undefined);
    await enforcer.teardown().catch(() => undefined);
    await net.down();
  }
}
