// SPDX-License-Identifier: GPL-2.0
/* Agent role in the kernel: tc on the pod's underlay interface, inside the pod's namespace (where the user-space
 * agent's TUN would be). Egress: IPv4 to the overlay prefix (and IPv6 to the overlay IPv6 prefix, GUE Proto 41)
 * is wrapped in today's GUE header toward the pod's SaP, over the underlay's family (IPv4, or IPv6 in an
 * IPv6-only cluster). Ingress: GUE from an accepted SaP with the overlay's key and the pod's overlay address is
 * unwrapped; plain packets to the overlay addresses are dropped. With the guard on (config `guard`), these
 * programs are also the pod guard the user-space agent installs in nftables (agent/guard.ts): of the plain
 * traffic, only replies to the pod's own connections and neighbour discovery enter (guard.h). */
#include "common.h"

#define AG_INNER6 1 /* the pod has an overlay IPv6 address */
#define AG_OUTER6 2 /* the underlay is IPv6: GUE over UDP/IPv6 to sap_ip6 */
#define AG_GUARD 4  /* pod-local default deny for plain traffic (guard.h) */

#include "guard.h"

struct agent_cfg {
  __u32 overlay_id;
  __u32 overlay_ip; /* all addresses and ports in network order */
  __u32 overlay_net;
  __u32 overlay_mask;
  __u32 listen_ip; /* 0 on an IPv6 underlay */
  __u32 sap_ip;
  __u16 listen_port;
  __u16 sap_port;
  __u32 hdr_len; /* bytes of `hdr` (the GUE header for the send key, precomputed by user space); 0 = no config */
  __u8 hdr[GUE_MAX_HDR];
  __u8 overlay_ip6[16];
  __u8 overlay_net6[16];
  __u8 overlay_mask6[16];
  __u8 listen_ip6[16]; /* the IPv6 underlay's addresses (AG_OUTER6) */
  __u8 sap_ip6[16];
  __u32 flags;
  __u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct agent_cfg);
} agent_cfg SEC(".maps");

/* Accepted GUE senders (SaP address, port). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct ul_key);
  __type(value, __u32);
} accept SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct ul6_key);
  __type(value, __u32);
} accept6 SEC(".maps");

static __always_inline struct agent_cfg *config(__u32 *slot) {
  __u32 zero = 0;
  struct active *act = bpf_map_lookup_elem(&active, &zero);
  if (!act) return NULL;
  *slot = act->slot & 1;
  struct agent_cfg *cfg = bpf_map_lookup_elem(&agent_cfg, slot);
  return cfg && cfg->hdr_len ? cfg : NULL;
}

static __always_inline int in_prefix6(const void *addr, const __u8 *net, const __u8 *mask) {
  const __u32 *a = addr, *n = (const __u32 *)net, *m = (const __u32 *)mask;
  return (((a[0] & m[0]) ^ n[0]) | ((a[1] & m[1]) ^ n[1]) | ((a[2] & m[2]) ^ n[2]) | ((a[3] & m[3]) ^ n[3])) == 0;
}

static __always_inline int shot(__u32 c) {
  count(c);
  return TC_ACT_SHOT;
}

/* A plain packet entering the pod (not GUE to the agent, not to an overlay address): with the guard on, only
 * replies to the pod's own flows and neighbour discovery. */
static __always_inline int plain_in(struct __sk_buff *skb, struct agent_cfg *cfg, int v6) {
  if (!(cfg->flags & AG_GUARD) || own_in(skb, v6)) return TC_ACT_OK;
  return shot(C_GUARD_DROPPED);
}

/* Wraps the packet (inner IPv4, or IPv6 when inner6) in outer IP/UDP/GUE over the underlay's family. */
static __always_inline int encap(struct __sk_buff *skb, struct agent_cfg *cfg, int inner6) {
  int outer6 = (cfg->flags & AG_OUTER6) != 0;
  __u32 hl = cfg->hdr_len;
  if (hl < GUE_FIXED_LEN || hl > GUE_MAX_HDR) return TC_ACT_SHOT;
  __u32 inner_len = skb->len - sizeof(struct ethhdr);
  __u32 olen = outer6 ? OUTER6_LEN : OUTER_LEN;
  __u32 grow = olen + hl;
  /* ENCAP flags: the kernel records inner headers and marks GSO packets as UDP tunnel packets, so a TCP
   * super-packet is still segmented (with the GUE header copied into every segment) where it has to be. It also
   * sets skb->protocol to the outer family. */
  __u64 flags = (outer6 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) | BPF_F_ADJ_ROOM_ENCAP_L4_UDP;
  if (bpf_skb_adjust_room(skb, grow, BPF_ADJ_ROOM_MAC, flags)) return shot(C_TX_ERROR);
  if (!outer6) {
    struct {
      struct iphdr ip;
      struct udphdr udp;
    } o = {};
    o.ip.version = 4;
    o.ip.ihl = 5;
    o.ip.tot_len = bpf_htons(inner_len + grow);
    o.ip.ttl = 64;
    o.ip.protocol = IPPROTO_UDP;
    o.ip.saddr = cfg->listen_ip;
    o.ip.daddr = cfg->sap_ip;
    o.ip.check = ip_csum(&o.ip);
    o.udp.source = cfg->listen_port;
    o.udp.dest = cfg->sap_port;
    o.udp.len = bpf_htons(inner_len + sizeof(struct udphdr) + hl);
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o), 0)) return shot(C_TX_ERROR);
  } else {
    struct {
      struct ipv6hdr ip;
      struct udphdr udp;
    } o = {};
    o.ip.version = 6;
    o.ip.payload_len = bpf_htons(inner_len + sizeof(struct udphdr) + hl);
    o.ip.nexthdr = IPPROTO_UDP;
    o.ip.hop_limit = 64;
    __builtin_memcpy(&o.ip.saddr, cfg->listen_ip6, 16);
    __builtin_memcpy(&o.ip.daddr, cfg->sap_ip6, 16);
    o.udp.source = cfg->listen_port;
    o.udp.dest = cfg->sap_port;
    o.udp.len = o.ip.payload_len;
    /* Zero UDP checksum (RFC 6935): the inner packet carries its own; the SaP's tc program takes it. */
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o), 0)) return shot(C_TX_ERROR);
  }
  if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + olen, cfg->hdr, hl, 0)) return shot(C_TX_ERROR);
  if (inner6) {
    __u8 proto = 41; /* GUE Proto: IPv6 (the user-space agent's template6) */
    if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + olen + 1, &proto, 1, 0)) return shot(C_TX_ERROR);
  }
  count(C_ENCAP);
  if (inner6 == outer6) return TC_ACT_OK;
  /* The L2 header was built for the inner family's route (a placeholder next hop, agent-main.ts): let the
   * kernel resolve the outer destination's neighbour instead. */
  return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
}

/* A plain (not overlay) packet leaving the pod: remembered as the pod's own flow when the guard is on. */
static __always_inline int plain_out(struct __sk_buff *skb, struct agent_cfg *cfg, int v6) {
  if (cfg->flags & AG_GUARD) own_out(skb, v6);
  return TC_ACT_OK;
}

static __always_inline int agent_egress6(struct __sk_buff *skb, struct agent_cfg *cfg) {
  if (!(cfg->flags & AG_INNER6)) return plain_out(skb, cfg, 1);
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
  if ((void *)(ip6 + 1) > end) return TC_ACT_OK;
  if (!in_prefix6(&ip6->daddr, cfg->overlay_net6, cfg->overlay_mask6)) return plain_out(skb, cfg, 1);
  return encap(skb, cfg, 1);
}

SEC("tc")
int agent_egress(struct __sk_buff *skb) {
  __u32 slot;
  struct agent_cfg *cfg = config(&slot);
  if (!cfg) return TC_ACT_OK;
  if (skb->protocol == bpf_htons(ETH_P_IPV6)) return agent_egress6(skb, cfg);
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  if ((ip->daddr & cfg->overlay_mask) != cfg->overlay_net) return plain_out(skb, cfg, 0);
  return encap(skb, cfg, 0);
}

/* GUE to this agent's socket, outer headers already matched: `l3` is the outer IP header's length (constant at
 * each call site), `sender_ok` whether the outer source is an accepted SaP. */
static __always_inline int decap(struct __sk_buff *skb, struct agent_cfg *cfg, __u32 slot, __u32 l3, int sender_ok,
                                 int outer_frag) {
  /* GUE header and inner IP header (up to IPv6's 40 bytes) into the linear area, no more: a kernel sender's TCP
   * payload sits in page fragments, and pulling it would copy it into the head on every packet (a lying GUE
   * length gets a short pull, and the bounds checks drop it). */
  if (!linear(skb, sizeof(struct ethhdr) + OUTER6_LEN + GUE_MAX_HDR + 40)) {
    __u32 want = sizeof(struct ethhdr) + l3 + sizeof(struct udphdr) + GUE_MAX_HDR + 40;
    __u8 b0;
    if (!bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + l3 + sizeof(struct udphdr), &b0, 1))
      want = sizeof(struct ethhdr) + l3 + sizeof(struct udphdr) + 4 + (b0 & 0x1f) * 4 + 40;
    if (want > skb->len) want = skb->len;
    bpf_skb_pull_data(skb, want);
  }
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct udphdr *udp = data + sizeof(struct ethhdr) + l3;
  if ((void *)(udp + 1) > end) return TC_ACT_OK;

  count(C_RX);
  if (!sender_ok) return shot(C_UNKNOWN_SENDER);
  if (outer_frag) {
    count(C_MALFORMED);
    return shot(C_MAL_OUTER_FRAGMENT);
  }
  __u32 ulen = bpf_ntohs(udp->len);
  if (ulen < sizeof(struct udphdr) || ulen > skb->len - sizeof(struct ethhdr) - l3) {
    count_malformed(D_TRUNCATED);
    return TC_ACT_SHOT;
  }
  __u8 *g = (void *)(udp + 1);
  struct gue h = {};
  int code = gue_decode(g, end, ulen - sizeof(struct udphdr), &h);
  if (code != D_OK) {
    count_malformed(code);
    return TC_ACT_SHOT;
  }
  __u32 goff = sizeof(struct ethhdr) + l3 + sizeof(struct udphdr);
  code = gue_verify(skb, goff + GUE_FIXED_LEN, &h, cfg->overlay_id, slot);
  if (code != D_OK) {
    count(code == D_UNKNOWN_OVERLAY ? C_UNKNOWN_OVERLAY
          : code == D_UNKNOWN_MODE  ? C_UNKNOWN_MODE
          : code == D_BAD_EPOCH     ? C_BAD_EPOCH
                                    : C_BAD_KEY);
    return TC_ACT_SHOT;
  }
  /* agent/main.ts forMe: the inner destination is the pod's overlay address of the inner family. */
  int outer6 = l3 == sizeof(struct ipv6hdr);
  int inner6 = h.proto == 41;
  __u64 flags = 0;
  if (!inner6) {
    __u32 dst;
    if (h.inner_len < 20 || bpf_skb_load_bytes(skb, goff + h.hdr_len + 16, &dst, 4) || dst != cfg->overlay_ip)
      return shot(C_NOT_FOR_ME);
    if (outer6) flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
  } else {
    __u8 dst[16];
    if (!(cfg->flags & AG_INNER6) || h.inner_len < 40 || bpf_skb_load_bytes(skb, goff + h.hdr_len + 24, dst, 16) ||
        !ip6_eq(dst, cfg->overlay_ip6))
      return shot(C_NOT_FOR_ME);
    if (!outer6) flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
  }
  /* The DECAP flag moves skb->protocol to the inner family when it differs from the outer one. */
  if (bpf_skb_adjust_room(skb, -(__s32)(l3 + sizeof(struct udphdr) + h.hdr_len), BPF_ADJ_ROOM_MAC, flags))
    return shot(C_TX_ERROR);
  if (inner6 != outer6) {
    __u16 proto = bpf_htons(inner6 ? ETH_P_IPV6 : ETH_P_IP);
    if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, 2, 0)) return shot(C_TX_ERROR);
  }
  skb->mark = OV_DECAP_MARK;
  count(C_DECAP);
  return TC_ACT_OK;
}

static __always_inline int agent_ingress6(struct __sk_buff *skb, struct agent_cfg *cfg, __u32 slot) {
  struct {
    struct ipv6hdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o.ip))) return plain_in(skb, cfg, 1);
  if ((cfg->flags & AG_INNER6) && ip6_eq(&o.ip.daddr, cfg->overlay_ip6)) return shot(C_PLAIN_TO_OVERLAY);
  if (!(cfg->flags & AG_OUTER6) || !ip6_eq(&o.ip.daddr, cfg->listen_ip6)) return plain_in(skb, cfg, 1);
  if (o.ip.nexthdr == 44) {
    /* A fragmented datagram to the agent's socket (first fragment: to its port). */
    struct {
      __u8 next, rsvd;
      __u16 off;
      __u32 id;
      struct udphdr udp;
    } f;
    if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + sizeof(struct ipv6hdr), &f, sizeof(f)))
      return plain_in(skb, cfg, 1);
    if (f.next != IPPROTO_UDP || ((bpf_ntohs(f.off) >> 3) == 0 && f.udp.dest != cfg->listen_port))
      return plain_in(skb, cfg, 1);
    count(C_RX);
    count(C_MALFORMED);
    return shot(C_MAL_OUTER_FRAGMENT);
  }
  if (o.ip.nexthdr != IPPROTO_UDP) return plain_in(skb, cfg, 1);
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o)) || o.udp.dest != cfg->listen_port)
    return plain_in(skb, cfg, 1);
  int ok = o.udp.source == cfg->sap_port && ip6_eq(&o.ip.saddr, cfg->sap_ip6); /* as for IPv4 below */
  if (!ok) {
    struct ul6_key ak = {.slot = slot, .port = o.udp.source};
    __builtin_memcpy(ak.ip, &o.ip.saddr, 16);
    ok = bpf_map_lookup_elem(&accept6, &ak) != NULL;
  }
  return decap(skb, cfg, slot, sizeof(struct ipv6hdr), ok, 0);
}

SEC("tc")
int agent_ingress(struct __sk_buff *skb) {
  __u32 slot;
  struct agent_cfg *cfg = config(&slot);
  if (!cfg) return TC_ACT_OK;
  if (skb->protocol == bpf_htons(ETH_P_IPV6)) return agent_ingress6(skb, cfg, slot);
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct {
    struct iphdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o.ip))) return plain_in(skb, cfg, 0);
  if (o.ip.daddr == cfg->overlay_ip) return shot(C_PLAIN_TO_OVERLAY);
  if (o.ip.protocol != IPPROTO_UDP || o.ip.daddr != cfg->listen_ip || o.ip.ihl != 5) return plain_in(skb, cfg, 0);
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o)) || o.udp.dest != cfg->listen_port)
    return plain_in(skb, cfg, 0);
  /* The pod's own SaP sends nearly everything, and `accept` always holds it (maps.ts agentEntries, same
   * version): compared from the config's first cache line, no hash lookup. */
  int ok = o.ip.saddr == cfg->sap_ip && o.udp.source == cfg->sap_port;
  if (!ok) {
    struct ul_key ak = {.slot = slot, .ip = o.ip.saddr, .port = o.udp.source};
    ok = bpf_map_lookup_elem(&accept, &ak) != NULL;
  }
  return decap(skb, cfg, slot, sizeof(struct iphdr), ok, (o.ip.frag_off & bpf_htons(0x3fff)) != 0);
}

char LICENSE[] SEC("license") = "GPL";
