// Transparent interception in the pod's namespace, the way Istio's init container (istio-iptables) sets it up,
// rendered for nftables: every TCP connection the pod's app opens is redirected to the sidecar's outbound
// listener, every TCP connection arriving on a non-loopback interface to its inbound listener. The sidecar's
// own connections (its uid, PROXY_UID, as Istio's 1337) are exempt, or its upstream connections would loop.
// UDP is not intercepted (the mesh carries TCP only; Istio's sidecars do the same). Pure: the enforcer loads
// the text with `nft -f -` inside the pod before traffic is measured, and deletes the table at teardown.

export const MESH_TABLE = 'meshredirect';
/** The proxy's uid (Istio: 1337). The sidecar drops to it after binding its listeners. */
export const PROXY_UID = 1337;
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;

export interface InterceptSpec {
  /** TCP destination ports never redirected inbound (e.g. a health port); default none. */
  excludeInboundPorts?: number[];
}

export function interceptRuleset(spec: InterceptSpec = {}): string {
  const ex = spec.excludeInboundPorts ?? [];
  return [
    `table inet ${MESH_TABLE}`,
    `delete table inet ${MESH_TABLE}`,
    `table inet ${MESH_TABLE} {`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    // The sidecar's own traffic goes where it was sent (Istio: -m owner --uid-owner 1337 -j RETURN).
    `    meta skuid ${PROXY_UID} return`,
    // Traffic to the pod itself (over lo) is local: not a mesh hop.
    `    oifname "lo" return`,
    `    meta l4proto tcp redirect to :${OUTBOUND_PORT}`,
    `  }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority -100; policy accept;`,
    `    iifname "lo" return`,
    ex.length ? `    tcp dport { ${ex.join(', ')} } return` : '',
    `    meta l4proto tcp redirect to :${INBOUND_PORT}`,
    `  }`,
    `}`,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export function removeInterceptRuleset(): string {
  return `delete table inet ${MESH_TABLE}\n`;
}
