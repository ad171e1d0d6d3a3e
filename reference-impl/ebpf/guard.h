/* The pod guard of the eBPF agent: pod-local default deny for plain (non-overlay) traffic, in the agent's own tc
 * programs instead of an nftables table (agent/guard.ts, which the user-space agent keeps).
 *
 * Why not nftables here: a table in the pod's namespace puts netfilter hooks on every packet the pod sends or
 * receives, overlay packets included, and its `ct state` rule switches on connection tracking for the
 * namespace. Measured against the BPF guard in one interleaved run, it added about 12 µs per TCP
 * connect-request-response on average over the four paths (bench/overlay-ebpf-paths.ts, mode
 * overlay-ebpf+nftguard; README "Where the kernel path's time goes").
 *
 * What it admits, as the nftables guard does: GUE from the configured SaPs (agent.bpf.c checks the sender and
 * decapsulates), replies to the pod's own connections, and IPv6 neighbour discovery. Non-IP frames (ARP) pass.
 * "Own connection" is a flow the pod sent a plain packet on: the egress program records the reply tuple it
 * admits (TCP/UDP ports, ICMP echo id) in an LRU map, refreshed at most once a second; the ingress program looks
 * it up. ICMP errors about such a flow (unreachable, time exceeded, too big) are admitted by the flow they quote,
 * and later IPv4 fragments of UDP replies by the (peer, pod) pair of a recorded UDP flow. Differences from
 * conntrack, kept on purpose: no TCP state machine (a recorded tuple admits any TCP segment from that peer port
 * for OWN_IDLE_NS after the pod's last packet), and IPv6 packets with extension headers do not count as replies
 * (dropped). */
#ifndef OV_GUARD_H
#define OV_GUARD_H

/* ICMP types (linux/icmp.h would pull in libc's socket headers, which a BPF target cannot build). */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

/* A reply the pod admits: addresses as on the wire (IPv4 in the first 4 bytes), ports in network order (ICMP
 * echo: the identifier in peer_port). */
struct own_key {
  __u8 peer[16];
  __u8 pod[16];
  __u16 peer_port;
  __u16 pod_port;
  __u8 proto;
  __u8 v6;
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct own_key);
  __type(value, __u64); /* when the pod last sent on it */
} own_flows SEC(".maps");

#define OWN_IDLE_NS 300000000000ULL /* 5 min, conntrack's UDP stream timeout is 2, TCP's far longer */
#define OWN_REFRESH_NS 1000000000ULL

#define TUPLE_NONE 0 /* nothing to record or match */
#define TUPLE_FLOW 1
#define TUPLE_ND 2    /* ICMPv6 neighbour discovery (ingress: always admitted) */
#define TUPLE_FRAG 3  /* a later IPv4 fragment: only the (peer, pod, proto) of `k` is known */
#define TUPLE_ERROR 4 /* an ICMP error: `k` is the flow it quotes, as its reply */

/* Reads the L4 identity at `off` into `k` as seen from the pod: `out` = the pod sent it (ports: pod → peer). */
static __always_inline int l4_ports(struct __sk_buff *skb, __u32 off, __u8 proto, int v6, int out,
                                    struct own_key *k) {
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    __u16 p[2];
    if (bpf_skb_load_bytes(skb, off, p, 4)) return TUPLE_NONE;
    k->pod_port = out ? p[0] : p[1];
    k->peer_port = out ? p[1] : p[0];
    return TUPLE_FLOW;
  }
  __u8 echo_req = v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO, echo_rep = v6 ? ICMPV6_ECHO_REPLY : ICMP_ECHOREPLY;
  if (proto != (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) return TUPLE_NONE;
  struct {
    __u8 type, code;
    __u16 csum, id;
  } h;
  if (bpf_skb_load_bytes(skb, off, &h, sizeof(h))) return TUPLE_NONE;
  if (h.type == (out ? echo_req : echo_rep)) {
    k->peer_port = h.id;
    return TUPLE_FLOW;
  }
  if (out) return TUPLE_NONE;
  if (v6 && h.type >= 133 && h.type <= 137) return TUPLE_ND;
  if (v6 ? h.type >= 1 && h.type <= 4
         : h.type == ICMP_DEST_UNREACH || h.type == ICMP_TIME_EXCEEDED || h.type == ICMP_PARAMETERPROB)
    return TUPLE_ERROR;
  return TUPLE_NONE;
}

/* The tuple of the packet at the network header (Ethernet first), from the pod's side. */
static __always_inline int own_tuple(struct __sk_buff *skb, int v6, int out, struct own_key *k) {
  __u32 at = sizeof(struct ethhdr);
  k->v6 = v6;
  if (!v6) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, at, &ip, sizeof(ip)) || ip.ihl < 5) return TUPLE_NONE;
    __builtin_memcpy(k->pod, out ? &ip.saddr : &ip.daddr, 4);
    __builtin_memcpy(k->peer, out ? &ip.daddr : &ip.saddr, 4);
    k->proto = ip.protocol;
    if (ip.frag_off & bpf_htons(0x1fff)) return out ? TUPLE_NONE : TUPLE_FRAG;
    return l4_ports(skb, at + ip.ihl * 4, ip.protocol, 0, out, k);
  }
  struct ipv6hdr ip6;
  if (bpf_skb_load_bytes(skb, at, &ip6, sizeof(ip6))) return TUPLE_NONE;
  __builtin_memcpy(k->pod, out ? &ip6.saddr : &ip6.daddr, 16);
  __builtin_memcpy(k->peer, out ? &ip6.daddr : &ip6.saddr, 16);
  k->proto = ip6.nexthdr;
  return l4_ports(skb, at + sizeof(ip6), ip6.nexthdr, 1, out, k);
}

/* The flow an ICMP error quotes (the pod's own packet, after the 8-byte ICMP header), as the reply key. */
static __always_inline int quoted(struct __sk_buff *skb, int v6, struct own_key *k) {
  __u32 at = sizeof(struct ethhdr) + 8;
  struct own_key q = {.v6 = v6};
  if (!v6) {
    struct iphdr ip;
    __u8 ihl;
    if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &ihl, 1)) return 0;
    at += (ihl & 0xf) * 4;
    if (bpf_skb_load_bytes(skb, at, &ip, sizeof(ip)) || ip.ihl < 5) return 0;
    __builtin_memcpy(q.pod, &ip.saddr, 4);
    __builtin_memcpy(q.peer, &ip.daddr, 4);
    q.proto = ip.protocol;
    if (l4_ports(skb, at + ip.ihl * 4, ip.protocol, 0, 1, &q) != TUPLE_FLOW) return 0;
  } else {
    struct ipv6hdr ip6;
    at += sizeof(struct ipv6hdr);
    if (bpf_skb_load_bytes(skb, at, &ip6, sizeof(ip6))) return 0;
    __builtin_memcpy(q.pod, &ip6.saddr, 16);
    __builtin_memcpy(q.peer, &ip6.daddr, 16);
    q.proto = ip6.nexthdr;
    if (l4_ports(skb, at + sizeof(ip6), ip6.nexthdr, 1, 1, &q) != TUPLE_FLOW) return 0;
  }
  *k = q;
  return 1;
}

static __always_inline int own_known(struct own_key *k, __u64 now) {
  __u64 *seen = bpf_map_lookup_elem(&own_flows, k);
  return seen && now - *seen <= OWN_IDLE_NS;
}

static __always_inline void own_record(struct own_key *k, __u64 now) {
  __u64 *seen = bpf_map_lookup_elem(&own_flows, k);
  if (seen) {
    if (now - *seen > OWN_REFRESH_NS) *seen = now;
    return;
  }
  bpf_map_update_elem(&own_flows, k, &now, BPF_ANY);
}

/* Egress: a plain packet the pod sends opens (or refreshes) the way back for its replies. UDP also records the
 * (peer, pod) pair, which admits the later fragments of a large reply. */
static __always_inline void own_out(struct __sk_buff *skb, int v6) {
  struct own_key k = {};
  if (own_tuple(skb, v6, 1, &k) != TUPLE_FLOW) return;
  __u64 now = bpf_ktime_get_ns();
  own_record(&k, now);
  if (k.proto == IPPROTO_UDP && !v6) {
    k.peer_port = 0;
    k.pod_port = 0;
    own_record(&k, now);
  }
}

/* Ingress: 1 if a plain packet may enter the pod. */
static __always_inline int own_in(struct __sk_buff *skb, int v6) {
  struct own_key k = {};
  int t = own_tuple(skb, v6, 0, &k);
  if (t == TUPLE_ND) return 1;
  if (t == TUPLE_NONE) return 0;
  if (t == TUPLE_ERROR && !quoted(skb, v6, &k)) return 0;
  if (t == TUPLE_FRAG && k.proto != IPPROTO_UDP) return 0;
  return own_known(&k, bpf_ktime_get_ns());
}

#endif
