// The eBPF agent's pod guard (reference-impl/ebpf/guard.h): of the plain (non-overlay) traffic, only replies to the
// pod's own flows, ICMP errors about them, later fragments of their UDP replies and neighbour discovery enter;
// everything else is dropped and counted (`guardDropped`), as the user-space agent's nftables guard does.
// BPF_PROG_TEST_RUN in a scratch namespace (flows recorded by running agent_egress, then replies through
// agent_ingress); every pin and the namespace carry a run prefix and are removed afterwards. Root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentConfigInput, parseAgentConfig } from '../../reference-impl/agent/config.ts';
import { BpfObject } from '../../reference-impl/ebpf/loader.ts';
import { agentEntries } from '../../reference-impl/ebpf/maps.ts';
import { GoldenLab, TC_ACT_OK, TC_ACT_SHOT, eth, ipv4, tcp, udpHdr } from './ebpf-golden-lib.ts';

const POD = '198.18.0.5'; // the pod's underlay address (its agent's listen address)
const SAP = '198.18.0.1';
const PEER = '198.18.0.9'; // something the pod talks to outside the overlay
const STRANGER = '198.18.0.66';
const POD_MAC = '020000000005';
const PEER_MAC = '020000000009';

const input = (guard: boolean): AgentConfigInput => ({
  version: 1,
  overlayId: 7,
  overlayIp: '100.64.0.1',
  overlayCidr: '100.64.0.0/10',
  keys: [{ epoch: 1, key: '00112233445566778899aabbccddeeff' }],
  sendEpoch: 1,
  listen: { ip: POD, port: 6080 },
  sap: { ip: SAP, port: 6080 },
  guard,
});

const lab = new GoldenLab('guard');
let agent: BpfObject;
let open: BpfObject;

beforeAll(() => {
  lab.up([`${POD}/24`], []);
  agent = new BpfObject('agent', `${lab.pins}/on`);
  agent.program(agentEntries(parseAgentConfig(input(true)), agent.nextSlot()), 1);
  open = new BpfObject('agent', `${lab.pins}/off`);
  open.program(agentEntries(parseAgentConfig(input(false)), open.nextSlot()), 1);
});

afterAll(() => {
  agent?.close();
  open?.close();
  lab.close();
});

const out = (ip: Buffer) => eth(PEER_MAC, POD_MAC, ip);
const inn = (ip: Buffer) => eth(POD_MAC, PEER_MAC, ip);
const udp = (sport: number, dport: number) => udpHdr(sport, dport, Buffer.from('hello'));
function icmp(type: number, code: number, id: number, body = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  h.writeUInt16BE(id, 4);
  return Buffer.concat([h, body]);
}
/** Sends from the pod (agent_egress must pass it unchanged, as it does every non-overlay packet). */
function send(frame: Buffer): void {
  const r = lab.run(agent, 'agent_egress', frame);
  expect(r.retval).toBe(TC_ACT_OK);
  expect(r.out.toString('hex')).toBe(frame.toString('hex'));
}
function admitted(frame: Buffer): boolean {
  const r = lab.run(agent, 'agent_ingress', frame);
  if (r.retval === TC_ACT_OK) {
    expect(r.counters).toEqual({});
    return true;
  }
  expect(r.retval).toBe(TC_ACT_SHOT);
  expect(r.counters).toEqual({ guardDropped: 1 });
  return false;
}

describe('eBPF pod guard', () => {
  it('drops plain traffic nobody asked for, counted as guardDropped', () => {
    expect(admitted(inn(ipv4(STRANGER, POD, 17, udp(5000, 9999))))).toBe(false);
    expect(admitted(inn(ipv4(STRANGER, POD, 6, tcp(5000, 22))))).toBe(false);
    expect(admitted(inn(ipv4(STRANGER, POD, 1, icmp(8, 0, 1))))).toBe(false);
    // The same packets with the guard off pass (config `guard: false`).
    const r = lab.run(open, 'agent_ingress', inn(ipv4(STRANGER, POD, 17, udp(5000, 9999))));
    expect(r.retval).toBe(TC_ACT_OK);
  });

  it('admits replies to the pod’s own UDP and TCP flows, and only those', () => {
    send(out(ipv4(POD, PEER, 17, udp(40000, 53))));
    expect(admitted(inn(ipv4(PEER, POD, 17, udp(53, 40000))))).toBe(true);
    expect(admitted(inn(ipv4(PEER, POD, 17, udp(54, 40000))))).toBe(false); // other peer port
    expect(admitted(inn(ipv4(STRANGER, POD, 17, udp(53, 40000))))).toBe(false); // other peer
    expect(admitted(inn(ipv4(PEER, POD, 6, tcp(53, 40000))))).toBe(false); // other protocol
    send(out(ipv4(POD, PEER, 6, tcp(40001, 443))));
    expect(admitted(inn(ipv4(PEER, POD, 6, tcp(443, 40001))))).toBe(true);
    expect(admitted(inn(ipv4(PEER, POD, 6, tcp(443, 40002))))).toBe(false);
  });

  it('admits the echo reply of the pod’s own ping by its identifier', () => {
    send(out(ipv4(POD, PEER, 1, icmp(8, 0, 0x77))));
    expect(admitted(inn(ipv4(PEER, POD, 1, icmp(0, 0, 0x77))))).toBe(true);
    expect(admitted(inn(ipv4(PEER, POD, 1, icmp(0, 0, 0x78))))).toBe(false);
  });

  it('admits ICMP errors that quote one of the pod’s own flows (from any router), not others', () => {
    const own = ipv4(POD, PEER, 17, udp(40100, 8125));
    send(out(own));
    const quote = (ip: Buffer) => Buffer.from(ip.subarray(0, 28));
    expect(admitted(inn(ipv4('198.18.0.254', POD, 1, icmp(3, 3, 0, quote(own)))))).toBe(true);
    expect(admitted(inn(ipv4('198.18.0.254', POD, 1, icmp(11, 0, 0, quote(own)))))).toBe(true);
    const other = ipv4(POD, PEER, 17, udp(40101, 8125)); // never sent
    expect(admitted(inn(ipv4('198.18.0.254', POD, 1, icmp(3, 3, 0, quote(other)))))).toBe(false);
  });

  it('admits later fragments of a UDP reply from a peer the pod sent UDP to', () => {
    send(out(ipv4(POD, PEER, 17, udp(40200, 5353))));
    const later = (src: string) => {
      const f = ipv4(src, POD, 17, Buffer.alloc(64, 1));
      f.writeUInt16BE(185, 6); // fragment offset 185 × 8 bytes, no more fragments
      f.writeUInt16BE(0, 10);
      return inn(f);
    };
    expect(admitted(later(PEER))).toBe(true);
    expect(admitted(later(STRANGER))).toBe(false);
  });

  it('leaves non-IP frames (ARP) alone', () => {
    const arp = eth(POD_MAC, PEER_MAC, Buffer.alloc(28), '0806');
    const r = lab.run(agent, 'agent_ingress', arp);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(r.counters).toEqual({});
  });
});
