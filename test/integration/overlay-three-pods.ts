// The three-pod lab the overlay lifecycle tests share (overlay-resilience: user space; overlay-ebpf-updates: the
// kernel data path): a and c on n1, b on n2, and one policy that lets only a reach b. Not a test file.
import { parseScenario } from '../../src/scenario/load.ts';
import { tool, type Lab } from './overlay-helpers.ts';

export const threePods = (name: string) =>
  parseScenario(
    `${name}.yaml`,
    `
name: ${name}
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, labels: { role: a }, node: n1 }
  - { namespace: app, name: c, labels: { role: c }, node: n1 }
  - { namespace: app, name: b, labels: { role: b }, node: n2 }
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: b-from-a, namespace: app }
    spec:
      podSelector: { matchLabels: { role: b } }
      ingress: [{ from: [{ podSelector: { matchLabels: { role: a } } }] }]
`,
  );

/**
 * A short UDP request/response stream to the echo server on `to` port 7000: how many of 20 echoes came back.
 * `real`: to the pod's underlay address instead of its overlay address (what the pod guard must drop).
 */
export async function reach(
  lab: Lab,
  from: string,
  to: string,
  opts: { real?: boolean } = {},
): Promise<number> {
  const ip = opts.real ? lab.net.address(to) : lab.ov.overlayAddress(to)!;
  const r = await tool(lab.net, from, 'stream', { ip, port: 7000, rate: 100, ms: 200 });
  return r.received;
}
