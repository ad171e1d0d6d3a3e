// The IPv6 golden-vector fixtures shared by overlay-ebpf-golden6.test.ts (SaP) and
// overlay-ebpf-golden6-agent.test.ts (agent): addresses, one SaP config with endpoints of every family
// combination, two agent configs (IPv4 and IPv6 underlay), and inner-packet builders.
import type { AgentConfigInput } from '../../reference-impl/agent/config.ts';
import { overlayIp6 } from '../../reference-impl/control-plane/addressing6.ts';
import { PROTO_IPV4, PROTO_IPV6 } from '../../reference-impl/gue/codec.ts';
import type { SapConfigInput } from '../../reference-impl/sap/config.ts';
import { gue as gueOf, ipv6, tcp } from './ebpf-golden-lib.ts';

export const K1 = '00112233445566778899aabbccddeeff';
export const K2 = 'ffeeddccbbaa99887766554433221100';
export const LISTEN = '198.18.0.1';
export const LISTEN6 = 'fd00:198:18::1';
export const AGENT_A = '198.18.0.5'; // IPv4 underlay
export const AGENT_C6 = 'fd00:198:18::6'; // IPv6 underlay
export const PEER_SAP = '198.18.0.2';
export const PEER_SAP6 = 'fd00:198:18::2';
export const SAP3 = 'fd00:198:18::3'; // a peer SaP on the IPv6 underlay only
export const MAC = {
  peer: '020000000002',
  peer6: '020000000012',
  sap3: '020000000003',
  a: '020000000005',
  c: '020000000006',
};
export const A = '100.64.0.1';
export const B = '100.64.0.2';
export const C = '100.64.0.3'; // local, IPv6 only, its agent on the IPv6 underlay
export const B2 = '100.64.0.4';
export const E = '100.64.0.5'; // local, IPv4 only
export const D = '100.64.0.8'; // behind SAP3
export const N = '100.64.0.9'; // the except hole
export const v6 = (x: string) => overlayIp6(x);

export const sapInput: SapConfigInput = {
  version: 3,
  sapId: 's1',
  overlayId: 77,
  keys: [
    { epoch: 1, key: K1 },
    { epoch: 2, key: K2 },
  ],
  sendEpoch: 2,
  listen: { ip: LISTEN, port: 6080 },
  listen6: { ip: LISTEN6, port: 6080 },
  endpoints: [
    {
      overlayIp: A,
      sap: 's1',
      agent: { ip: AGENT_A, port: 6080 },
      ipv4: true,
      ipv6: true,
      isolatedEgress: true,
      egress: [], // over IPv4 A may send nothing: the IPv6 rules below must not leak into IPv4
      egress6: [
        {
          peers: [{ cidr: '100.64.0.0/24', except: [`${N}/32`] }],
          ports: [{ protocol: 'TCP', portFrom: 80, portTo: 80 }],
        },
        { peers: [{ cidr: `${B}/32` }] },
      ],
    },
    { overlayIp: C, sap: 's1', agent: { ip: AGENT_C6, port: 6080 }, ipv4: false, ipv6: true },
    { overlayIp: E, sap: 's1', agent: { ip: '198.18.0.7', port: 6080 }, ipv4: true, ipv6: false },
    { overlayIp: B, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: B2, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: N, sap: 's2', ipv4: true, ipv6: true },
    { overlayIp: D, sap: 's3', ipv4: false, ipv6: true },
  ],
  saps: [
    { id: 's2', addr: { ip: PEER_SAP, port: 6080 }, addr6: { ip: PEER_SAP6, port: 6080 } },
    { id: 's3', addr: { ip: SAP3, port: 6080 } },
  ],
};
export const agentA: AgentConfigInput = {
  version: 3,
  overlayId: 77,
  overlayIp: A,
  overlayCidr: '100.64.0.0/10',
  overlayIp6: v6(A),
  overlayCidr6: 'fd64:ffff::/96',
  keys: [
    { epoch: 1, key: K1 },
    { epoch: 2, key: K2 },
  ],
  sendEpoch: 1,
  listen: { ip: AGENT_A, port: 6080 },
  sap: { ip: LISTEN, port: 6080 },
};
export const agentC: AgentConfigInput = {
  ...agentA,
  overlayIp: C,
  overlayIp6: v6(C),
  listen: { ip: AGENT_C6, port: 6080 },
  sap: { ip: LISTEN6, port: 6080 },
};

export const gue6 = (inner: Buffer, epoch = 1, key = K1) => gueOf(inner, epoch, key, 77, PROTO_IPV6);
export const gue4 = (inner: Buffer, epoch = 1, key = K1) => gueOf(inner, epoch, key, 77, PROTO_IPV4);
export const tcp6 = (src: string, dst: string, sport: number, dport: number) =>
  ipv6(v6(src), v6(dst), 6, tcp(sport, dport));
export const echo6 = (src: string, dst: string, type: number, id: number) => {
  const m = Buffer.alloc(8);
  m[0] = type;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(1, 6);
  return ipv6(v6(src), v6(dst), 58, m);
};
