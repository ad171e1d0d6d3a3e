// Compiled L3 policy of one endpoint and its lookup. The control plane did the NetworkPolicy resolution; here
// only "does some allow entry match (peer, protocol, port)" is left. Pure.
import type { AllowEntry } from './config.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, parseCidr } from './packet.ts';

interface Net {
  net: number;
  mask: number;
}
interface CompiledPeer extends Net {
  except: Net[];
}
interface CompiledPort {
  proto: number;
  from: number;
  to: number;
}
export interface CompiledEntry {
  /** null = any peer */
  peers: CompiledPeer[] | null;
  /** null = every protocol and port */
  ports: CompiledPort[] | null;
}

const PROTO_NUMBER = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP } as const;

export function compileEntries(entries: AllowEntry[]): CompiledEntry[] {
  return entries.map((e) => ({
    peers: e.peers
      ? e.peers.map((p) => {
          const [net, mask] = parseCidr(p.cidr);
          return {
            net,
            mask,
            except: (p.except ?? []).map((x) => {
              const [n, m] = parseCidr(x);
              return { net: n, mask: m };
            }),
          };
        })
      : null,
    ports:
      e.ports && e.ports.length > 0
        ? e.ports.map((p) => ({ proto: PROTO_NUMBER[p.protocol], from: p.portFrom, to: p.portTo }))
        : null,
  }));
}

function peerMatches(peers: CompiledPeer[], ip: number): boolean {
  for (const p of peers) {
    if ((ip & p.mask) >>> 0 !== p.net) continue;
    let excluded = false;
    for (const x of p.except) {
      if ((ip & x.mask) >>> 0 === x.net) {
        excluded = true;
        break;
      }
    }
    if (!excluded) return true;
  }
  return false;
}

function portMatches(ports: CompiledPort[], proto: number, port: number): boolean {
  for (const p of ports) {
    if (p.proto === proto && port >= p.from && port <= p.to) return true;
  }
  return false;
}

/** True when some entry allows traffic with `peer` on (proto, port). An empty list allows nothing. */
export function allows(entries: CompiledEntry[], peer: number, proto: number, port: number): boolean {
  for (const e of entries) {
    if (e.peers !== null && !peerMatches(e.peers, peer)) continue;
    if (e.ports !== null && !portMatches(e.ports, proto, port)) continue;
    return true;
  }
  return false;
}
