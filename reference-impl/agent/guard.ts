// The pod-local guard: an nftables table in the pod's own namespace (what a mesh init container would install).
// It admits loopback, the TUN, GUE from the configured SaPs, and replies to the pod's own connections; anything
// else arriving on the underlay interface is dropped. Default deny that needs nothing from the CNI. (The eBPF
// agent does the same in its tc programs instead: ../ebpf/guard.h.)
import { spawn } from 'node:child_process';

export const GUARD_TABLE = 'ovguard';

export interface GuardSpec {
  tun: string;
  agentPort: number;
  saps: { ip: string; port: number }[];
  /** TCP port of the agent's own config API, when it listens on TCP (Kubernetes: pushes come from another pod). */
  apiPort?: number;
  /**
   * Sources admitted on the underlay besides the SaPs: on Kubernetes the pod's own node (kubelet probes;
   * NetworkPolicy always allows node → own pod).
   */
  allowFrom?: string[];
}

/** The ruleset text (replaces any previous guard atomically). Pure. */
export function guardRuleset(g: GuardSpec): string {
  const saps = g.saps
    .filter((s) => !s.ip.includes(':'))
    .map((s) => `${s.ip} . ${s.port}`)
    .join(', ');
  // SaPs reached over an IPv6 underlay (IPv6-only clusters, IPv6-only externals).
  const saps6 = g.saps
    .filter((s) => s.ip.includes(':'))
    .map((s) => `${s.ip} . ${s.port}`)
    .join(', ');
  return [
    `table inet ${GUARD_TABLE}`,
    `delete table inet ${GUARD_TABLE}`,
    `table inet ${GUARD_TABLE} {`,
    `  chain input {`,
    `    type filter hook input priority filter - 10; policy drop;`,
    `    iif "lo" accept`,
    `    iifname "${g.tun}" accept`,
    `    ct state established,related accept`,
    saps ? `    meta l4proto udp ip saddr . udp sport { ${saps} } udp dport ${g.agentPort} accept` : '',
    saps6 ? `    meta l4proto udp ip6 saddr . udp sport { ${saps6} } udp dport ${g.agentPort} accept` : '',
    g.apiPort ? `    tcp dport ${g.apiPort} accept` : '',
    g.allowFrom?.length ? `    ip saddr { ${g.allowFrom.join(', ')} } accept` : '',
    `    meta nfproto ipv6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept`,
    `    counter drop`,
    `  }`,
    `}`,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export function nft(stdin: string, args: string[] = ['-f', '-']): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nft', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`nft ${args.join(' ')}: ${err.trim()}`)),
    );
    p.stdin.end(stdin);
  });
}

export async function installGuard(g: GuardSpec): Promise<void> {
  await nft(guardRuleset(g));
}

export async function removeGuard(): Promise<void> {
  await nft('', ['delete', 'table', 'inet', GUARD_TABLE]).catch(() => {});
}
