// SPDX-License-Identifier: GPL-2.0
/* SaP role in the kernel: tc ingress on every interface of the SaP's namespace. GUE to the SaP's listen address
 * gets what sap/engine.ts does in user space (key, sender check, default-deny policy with a flow cache, next
 * hop, re-key) and leaves re-encapsulated through bpf_redirect_neigh; everything else passes untouched. */
#include "common.h"
#include "sap_maps.h"

static __always_inline int allows(__u32 slot, __u8 dir, __u32 ep, __u32 peer, __u8 proto, __u16 port) {
  struct peer_key pk = {.prefixlen = 96, .slot = slot, .dir = dir, .ep = ep, .peer = peer};
  __u32 *set = bpf_map_lookup_elem(&pol_peer, &pk);
  if (!set || *set == PORTSET_DENY) return 0;
  if (*set == PORTSET_ALL) return 1;
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP) return 0;
  struct port_key qk = {.prefixlen = 80, .slot = slot, .proto = proto, .set = *set, .port = port};
  return bpf_map_lookup_elem(&pol_port, &qk) != NULL;
}

/* A cache entry written under this config version and used within `idle`: refreshed, 1. */
static __always_inline int fresh(struct flow_val *v, __u32 gen, __u64 now, __u64 idle) {
  if (!v || v->gen != gen || now - v->seen > idle) return 0;
  v->seen = now;
  return 1;
}

static __always_inline int cached(void *map, struct flow_key *k, __u32 gen, __u64 now, __u64 idle) {
  return fresh(bpf_map_lookup_elem(map, k), gen, now, idle);
}

static __always_inline void remember(void *map, struct flow_key *k, __u32 gen, __u64 now) {
  struct flow_val v = {.gen = gen, .seen = now};
  bpf_map_update_elem(map, k, &v, BPF_ANY);
}

static __always_inline int drop(__u32 c) {
  count(c);
  return TC_ACT_SHOT;
}

static __always_inline int drop_malformed(__u32 sub) {
  count(C_MALFORMED);
  count(sub);
  return TC_ACT_SHOT;
}

#include "sap_inner.h"

/* Where the GUE datagram came from on the underlay. */
struct outer {
  __u32 ip; /* IPv4 source (0 on the IPv6 underlay) */
  __u8 ip6[16];
  __u16 port;
  __u16 v6;
};

static __always_inline __u32 *sender_kind(__u32 slot, struct outer *o) {
  if (!o->v6) {
    struct ul_key k = {.slot = slot, .ip = o->ip, .port = o->port};
    return bpf_map_lookup_elem(&senders, &k);
  }
  struct ul6_key k = {.slot = slot, .port = o->port};
  __builtin_memcpy(k.ip, o->ip6, 16);
  return bpf_map_lookup_elem(&senders6, &k);
}

/* A local endpoint's agent sent it: its underlay address and port (either family). */
static __always_inline int from_agent(struct ep_val *src, struct outer *o) {
  if (src->agent_port != o->port) return 0;
  if (!o->v6) return !(src->flags & EP_AGENT6) && src->agent_ip == o->ip;
  return (src->flags & EP_AGENT6) && ip6_eq(src->agent_ip6, o->ip6);
}

/* The next hop is another SaP of this namespace (the gateways of several clusters in the router). The head
 * filter of an interface (the SaP whose listen address it holds, attached before every other SaP's: head_if)
 * leaves the packet to the filters after it, which see it in the same pass; any other SaP sends it
 * back into ingress, where the target's filter takes it on a second pass (netif_rx: a backlog round trip and
 * every filter again). */
static __always_inline int to_local_sap(struct __sk_buff *skb, __u32 ifin) {
  __u32 zero = 0;
  __u32 *head = bpf_map_lookup_elem(&head_if, &zero); /* read here only: no other packet needs it */
  if (head && *head != 0 && *head == ifin) {
    skb->mark = OV_PASS_MARK;
    return PASS;
  }
  return bpf_redirect(ifin, BPF_F_INGRESS);
}

/* This SaP as the outer IPv4 source, the next hop as destination. */
static __always_inline void outer4(struct iphdr *ip, struct udphdr *udp, struct sap_cfg *cfg, __u32 hop_ip,
                                   __u16 hop_port) {
  ip->saddr = cfg->listen_ip;
  ip->daddr = hop_ip;
  ip->ttl = 64;
  ip->check = 0;
  ip->check = ip_csum(ip);
  udp->source = cfg->listen_port;
  udp->dest = hop_port;
  udp->check = 0; /* IPv4 UDP without checksum: the inner packet carries its own */
}

/* Re-key in place: this SaP's send epoch and key (same length only: the header size stays). 0, or the counter
 * to drop with. */
static __always_inline __u32 rekey(struct sap_cfg *cfg, struct gue *h, __u8 *g, void *end) {
  if (h->epoch == cfg->send_epoch) return 0;
  if (h->auth_len != cfg->send_len) return C_REKEY_LENGTH;
  g[9] = cfg->send_epoch;
  __u8 *a = g + GUE_FIXED_LEN;
  for (int i = 0; i < MAX_KEY; i++) {
    if (i >= cfg->send_len) break;
    if ((void *)(a + i + 1) > end) return C_TX_ERROR;
    a[i] = cfg->send_key[i];
  }
  return 0;
}

/* How much of the packet the checks read directly: up to the inner L4 ports (ICMP: echo id), as the GUE header
 * length and the inner IHL say, not a fixed maximum. A kernel sender's TCP payload sits in page fragments behind
 * the headers; pulling it too would copy it into the head on every packet. A packet that lies about the lengths
 * gets less than it needs and the bounds checks drop it as truncated. (Inner IPv6 is read with
 * bpf_skb_load_bytes, which needs no pull.) */
static __always_inline __u32 pull_len(struct __sk_buff *skb, __u32 outer_len) {
  __u32 at = sizeof(struct ethhdr) + outer_len, want = at + GUE_MAX_HDR + 24;
  __u8 b0;
  if (!bpf_skb_load_bytes(skb, at, &b0, 1)) {
    __u32 hl = 4 + (b0 & 0x1f) * 4, ihl = 20;
    if (!bpf_skb_load_bytes(skb, at + hl, &b0, 1) && (b0 >> 4) == 4 && (b0 & 0xf) > 5) ihl = (b0 & 0xf) * 4;
    want = at + hl + ihl + 8;
  }
  return want < skb->len ? want : skb->len;
}

/* The headers the checks read, into the linear area unless they are there (common.h linear()). */
static __always_inline void pull(struct __sk_buff *skb, __u32 outer_len) {
  if (!linear(skb, sizeof(struct ethhdr) + OUTER6_LEN + GUE_MAX_HDR + 68))
    bpf_skb_pull_data(skb, pull_len(skb, outer_len));
}

/* Rewrites the outer headers toward the next hop and sends it off. `in6`: the packet came over IPv6 (40-byte
 * outer header); the hop's family decides the outer header it leaves with (a gateway serving both families
 * changes it). The outer UDP checksum is left zero: the inner packet carries its own, and the receivers (BPF
 * programs on tc ingress) take zero on either family, as RFC 6935 permits for tunnels over IPv6. */
static __always_inline int sap_send(struct __sk_buff *skb, struct sap_cfg *cfg, struct ep_val *dst, int in6,
                                    struct flow_val *fv, __u64 now) {
  int out6 = (dst->flags & EP_HOP6) != 0;
  /* Read once into a register: the verifier refuses a context field read through a kept pointer. */
  __u32 ifin = skb->ingress_ifindex;
  asm volatile("" : "+r"(ifin));
  if (in6 != out6) {
    /* Grows (IPv4 → IPv6) or shrinks by 20 bytes right after the Ethernet header and sets skb->protocol. */
    if (bpf_skb_change_proto(skb, bpf_htons(out6 ? ETH_P_IPV6 : ETH_P_IP), 0)) return drop(C_TX_ERROR);
  }
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct bpf_fib_lookup fib = {.ifindex = ifin};
  if (!out6) {
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end) return drop(C_TX_ERROR);
    if (in6) {
      /* Fresh IPv4 header in place of the IPv6 one. */
      __u32 len = skb->len - sizeof(struct ethhdr);
      *(__u16 *)ip = bpf_htons(0x4500);
      ip->tot_len = bpf_htons(len);
      ip->id = 0;
      ip->frag_off = 0;
      ip->protocol = IPPROTO_UDP;
      udp->len = bpf_htons(len - sizeof(struct iphdr));
      eth->h_proto = bpf_htons(ETH_P_IP);
    }
    outer4(ip, udp, cfg, dst->hop_ip, dst->hop_port);
    fib.family = OV_AF_INET;
    fib.ipv4_src = cfg->listen_ip;
    fib.ipv4_dst = dst->hop_ip;
  } else {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip6 + 1);
    if ((void *)(udp + 1) > end) return drop(C_TX_ERROR);
    if (!in6) {
      __u32 len = skb->len - sizeof(struct ethhdr) - sizeof(struct ipv6hdr);
      *(__u32 *)ip6 = bpf_htonl(0x60000000);
      ip6->payload_len = bpf_htons(len);
      ip6->nexthdr = IPPROTO_UDP;
      udp->len = bpf_htons(len);
      eth->h_proto = bpf_htons(ETH_P_IPV6);
    }
    __builtin_memcpy(&ip6->saddr, cfg->listen_ip6, 16);
    __builtin_memcpy(&ip6->daddr, dst->hop_ip6, 16);
    ip6->hop_limit = 64;
    udp->source = cfg->listen_port6;
    udp->dest = dst->hop_port;
    udp->check = 0;
    fib.family = OV_AF_INET6;
    __builtin_memcpy(fib.ipv6_src, cfg->listen_ip6, 16);
    __builtin_memcpy(fib.ipv6_dst, dst->hop_ip6, 16);
  }
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NOT_FWDED) {
    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
    return drop(C_TX_ERROR);
  }
  /* A local agent behind a veth into its pod's namespace: the packet goes straight to the pod side's ingress
   * (bpf_redirect_peer, as Cilium delivers to pods), without a transmit on this side and a trip through the
   * CPU's backlog queue. */
  __u32 oif = fib.ifindex;
  int peer = (dst->flags & EP_LOCAL) && rc == BPF_FIB_LKUP_RET_SUCCESS && bpf_map_lookup_elem(&peer_devs, &oif);
  /* Remember how this flow direction leaves, for the fast path (IPv4 underlay both ways only). */
  if (fv && !in6 && !out6) {
    fv->fwd_peer = peer;
    fv->fwd_hop_ip = dst->hop_ip;
    fv->fwd_hop_port = dst->hop_port;
    fv->fwd_ifindex = rc == BPF_FIB_LKUP_RET_SUCCESS ? fib.ifindex : 0;
    __builtin_memcpy(fv->fwd_dmac, fib.dmac, ETH_ALEN);
    __builtin_memcpy(fv->fwd_smac, fib.smac, ETH_ALEN);
    fv->fwd_at = now;
  }
  /* The next hop is another SaP of this namespace. */
  if (rc == BPF_FIB_LKUP_RET_NOT_FWDED) return to_local_sap(skb, ifin);
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  eth = data;
  if ((void *)(eth + 1) > end) return drop(C_TX_ERROR);
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return peer ? bpf_redirect_peer(fib.ifindex, 0) : bpf_redirect(fib.ifindex, 0);
}

/* What sap/engine.ts does after the outer headers: GUE structure and key, inner packet, sender check, policy
 * with the flow cache, next hop, re-key, re-encapsulation. `l3` is the outer IP header's length (20 or 40, a
 * constant at each call site). The caller pulled the headers into the linear area. */
static __always_inline int sap_gue(struct __sk_buff *skb, struct sap_cfg *cfg, __u32 slot, __u32 gen, __u32 l3,
                                   struct outer *o) {
  __u32 ifin = skb->ingress_ifindex;
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct udphdr *udp = data + sizeof(struct ethhdr) + l3;
  if ((void *)(udp + 1) > end) return PASS;
  if (skb->mark == OV_PASS_MARK) skb->mark = 0; /* taken: the mark stays in this namespace */
  count(C_RX);
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
  if (code == D_UNKNOWN_OVERLAY) return drop(C_UNKNOWN_OVERLAY);
  if (code == D_UNKNOWN_MODE) return drop(C_UNKNOWN_MODE);
  if (code == D_BAD_EPOCH) return drop(C_BAD_EPOCH);
  if (code != D_OK) return drop(C_BAD_KEY);

  struct inner p = {};
  int r;
  if (h.proto == 4) {
    r = parse_inner4((void *)(g + (h.hdr_len & 0xff)), end, h.inner_len, &p);
    if (r != INNER_OK) return drop_malformed(C_MAL_INNER_IPV4);
  } else {
    r = parse_inner6(skb, goff + h.hdr_len, h.inner_len, cfg->prefix6, &p);
    if (r == INNER_NOT_OVERLAY) return drop(C_NO_ROUTE);
    if (r != INNER_OK) return drop_malformed(C_MAL_INNER_IPV6);
  }
  struct flow_key fk = p.fk;

  __u64 now = bpf_ktime_get_ns();
  /* Fast path: a flow direction already forwarded from this underlay sender under this config version passes
   * the sender check, has the same next hop and (within FWD_NS) the same FIB answer, so the key check above is
   * all it needs: three hash lookups and the FIB lookup less per packet. */
  int cacheable = !p.more && !p.later && !o->v6;
  struct flow_val *fv = cacheable ? bpf_map_lookup_elem(&flows, &fk) : NULL;
  if (fv && fv->gen == gen && now - fv->seen <= cfg->flow_idle_ns && fv->fwd_at && now - fv->fwd_at < FWD_NS &&
      fv->fwd_sender_ip == o->ip && fv->fwd_sender_port == o->port) {
    fv->seen = now;
    count(C_ALLOWED_CACHED);
    __u32 err = rekey(cfg, &h, g, end);
    if (err) return drop(err);
    struct iphdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) > end) return drop(C_TX_ERROR);
    outer4(ip, udp, cfg, fv->fwd_hop_ip, fv->fwd_hop_port);
    __u32 out = fv->fwd_ifindex;
    if (!out) return to_local_sap(skb, ifin);
    struct ethhdr *eth = data;
    __builtin_memcpy(eth->h_dest, fv->fwd_dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fv->fwd_smac, ETH_ALEN);
    return fv->fwd_peer ? bpf_redirect_peer(out, 0) : bpf_redirect(out, 0);
  }

  /* Sender check (CONTRACT.md, "Policy semantics in the SaP"). */
  struct ep_key sk = {.slot = slot, .ip = fk.src};
  struct ep_val *src = bpf_map_lookup_elem(&endpoints, &sk);
  __u32 *kind = sender_kind(slot, o);
  if (kind && *kind == 2) {
    if (!src || (src->flags & EP_LOCAL)) return drop(C_SPOOFED_SOURCE);
  } else if (!src || !(src->flags & EP_LOCAL) || !from_agent(src, o)) {
    return drop(kind ? C_SPOOFED_SOURCE : C_UNKNOWN_SENDER);
  }
  struct ep_key dk = {.slot = slot, .ip = fk.dst};
  struct ep_val *dst = bpf_map_lookup_elem(&endpoints, &dk);
  if (!dst || !(dst->flags & EP_HAS_HOP)) return drop(C_NO_ROUTE);
  /* A family an endpoint does not have does not exist for it (no such address in Kubernetes either). */
  __u32 fam = p.v6 ? EP_V6 : EP_V4;
  if (!(src->flags & fam) || !(dst->flags & fam)) return drop(C_NO_ROUTE);

  /* Fragment cache key: (src, dst, proto, IP id); IPv6's 32-bit id split over the two port fields. */
  struct flow_key qk = {.src = fk.src, .dst = fk.dst, .proto = fk.proto};
  if (p.v6) {
    qk.sport = p.frag_id >> 16;
    qk.dport = p.frag_id & 0xffff;
  } else {
    qk.sport = p.frag_id;
  }
  __u8 dv = p.v6 ? DIR_V6 : 0;
  if (p.later) {
    if (!cached(&frags, &qk, gen, now, FRAG_NS)) return drop(C_FRAGMENT_DROPPED);
    count(C_ALLOWED_FRAGMENT);
  } else if (cacheable ? fresh(fv, gen, now, cfg->flow_idle_ns) : cached(&flows, &fk, gen, now, cfg->flow_idle_ns)) {
    /* (A cacheable flow's entry was looked up for the fast path above: not again.) */
    count(C_ALLOWED_CACHED);
  } else {
    if ((src->flags & (EP_LOCAL | EP_ISO_OUT)) == (EP_LOCAL | EP_ISO_OUT) &&
        !allows(slot, 1 | dv, fk.src, fk.dst, fk.proto, fk.dport))
      return drop(C_DENIED_POLICY);
    if ((dst->flags & (EP_LOCAL | EP_ISO_IN)) == (EP_LOCAL | EP_ISO_IN) &&
        !allows(slot, 0 | dv, fk.dst, fk.src, fk.proto, fk.dport))
      return drop(C_DENIED_POLICY);
    remember(&flows, &fk, gen, now);
    struct flow_key rk = {.src = fk.dst, .dst = fk.src, .sport = fk.dport, .dport = fk.sport, .proto = fk.proto};
    remember(&flows, &rk, gen, now);
    fv = NULL; /* replaced by the write: looked up again below */
    count(C_ALLOWED);
  }
  if (p.more && !p.later) remember(&frags, &qk, gen, now);

  __u32 err = rekey(cfg, &h, g, end);
  if (err) return drop(err);
  /* The flow entry this packet was allowed under (just written or refreshed), for the forwarding cache. */
  if (cacheable && !fv) fv = bpf_map_lookup_elem(&flows, &fk);
  if (fv && fv->gen == gen) {
    fv->fwd_at = 0; /* until sap_send has the FIB answer */
    fv->fwd_sender_ip = o->ip;
    fv->fwd_sender_port = o->port;
  } else {
    fv = NULL;
  }
  return sap_send(skb, cfg, dst, l3 == sizeof(struct ipv6hdr), fv, now);
}

static __always_inline int sap_ingress6(struct __sk_buff *skb, struct sap_cfg *cfg, __u32 slot, __u32 gen) {
  if (ip6_zero(cfg->listen_ip6)) return PASS;
  struct {
    struct ipv6hdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o))) return PASS;
  if (!ip6_eq(&o.ip.daddr, cfg->listen_ip6)) return PASS;
  if (o.ip.nexthdr == EXT_FRAGMENT) {
    /* A fragmented datagram to this SaP (first fragment: to its port): counted as the IPv4 path does. */
    struct {
      __u8 next, rsvd;
      __u16 off;
      __u32 id;
      struct udphdr udp;
    } f;
    if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + sizeof(struct ipv6hdr), &f, sizeof(f))) return PASS;
    if (f.next != IPPROTO_UDP || ((bpf_ntohs(f.off) >> 3) == 0 && f.udp.dest != cfg->listen_port6)) return PASS;
    count(C_RX);
    return drop_malformed(C_MAL_OUTER_FRAGMENT);
  }
  if (o.ip.nexthdr != IPPROTO_UDP || o.udp.dest != cfg->listen_port6) return PASS;
  pull(skb, OUTER6_LEN);
  struct outer src = {.port = o.udp.source, .v6 = 1};
  __builtin_memcpy(src.ip6, &o.ip.saddr, 16);
  return sap_gue(skb, cfg, slot, gen, sizeof(struct ipv6hdr), &src);
}

/* The SaP on every interface of its namespace; on its head interface (head_if) it is the first filter. */
SEC("tc")
int sap_ingress(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct active *act = bpf_map_lookup_elem(&active, &zero);
  if (!act) return PASS;
  __u32 slot = act->slot & 1, gen = act->gen;
  struct sap_cfg *cfg = bpf_map_lookup_elem(&sap_cfg, &slot);
  if (!cfg) return PASS;
  if (skb->protocol == bpf_htons(ETH_P_IPV6)) return sap_ingress6(skb, cfg, slot, gen);
  if (skb->protocol != bpf_htons(ETH_P_IP) || cfg->listen_ip == 0) return PASS;

  /* Cheap test first (a copy, no pull): most packets crossing the node are not GUE for this SaP. */
  struct {
    struct iphdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o))) return PASS;
  if (o.ip.protocol != IPPROTO_UDP || o.ip.daddr != cfg->listen_ip || o.ip.ihl != 5 ||
      o.udp.dest != cfg->listen_port)
    return PASS;
  if (o.ip.frag_off & bpf_htons(0x3fff)) {
    count(C_RX);
    return drop_malformed(C_MAL_OUTER_FRAGMENT);
  }
  pull(skb, OUTER_LEN);
  struct outer src = {.ip = o.ip.saddr, .port = o.udp.source};
  return sap_gue(skb, cfg, slot, gen, sizeof(struct iphdr), &src);
}

/* Last filter of a head interface: a packet a head SaP left for another SaP of the namespace that no filter
 * after it took (that SaP's filter comes earlier, or it is not attached yet) goes round once more. */
SEC("tc")
int sap_catch(struct __sk_buff *skb) {
  if (skb->mark != OV_PASS_MARK) return PASS;
  skb->mark = 0;
  return bpf_redirect(skb->ingress_ifindex, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
