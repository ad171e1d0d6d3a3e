// SPDX-License-Identifier: GPL-2.0
/* SaP role in the kernel: tc ingress on every interface of the SaP's namespace. GUE to the SaP's listen address
 * gets what sap/engine.ts does in user space (key, sender check, default-deny policy with a flow cache, next
 * hop, re-key) and leaves re-encapsulated through bpf_redirect_neigh; everything else passes untouched. */
#include "common.h"

/* Not ours: let the next filter on this hook decide (several SaPs may share a namespace, e.g. the gateways of
 * two clusters in the router), then the stack. */
#define PASS TC_ACT_UNSPEC

struct sap_cfg {
  __u32 overlay_id;
  __u32 listen_ip;   /* network order */
  __u16 listen_port; /* network order */
  __u8 send_epoch;
  __u8 send_len;
  __u64 flow_idle_ns;
  __u8 send_key[MAX_KEY];
};

/* Indexed by slot. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct sap_cfg);
} sap_cfg SEC(".maps");

struct ep_key {
  __u32 slot;
  __u32 ip;
};
#define EP_LOCAL 1
#define EP_ISO_IN 2
#define EP_ISO_OUT 4
#define EP_HAS_HOP 8
struct ep_val {
  __u32 agent_ip;
  __u32 hop_ip;
  __u16 agent_port;
  __u16 hop_port;
  __u32 flags;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ep_key);
  __type(value, struct ep_val);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} endpoints SEC(".maps");

/* Underlay senders: local agents (kind 1) and peer SaPs (kind 2). */
struct sender_key {
  __u32 slot;
  __u32 ip;
  __u16 port;
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct sender_key);
  __type(value, __u32);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} senders SEC(".maps");

/* Policy, stage 1: (slot, direction, endpoint, peer address) → port set. The compiler (maps.ts) makes the
 * prefixes' answers exact under longest-prefix match, `except` included; port set 0 = every protocol. */
struct peer_key {
  __u32 prefixlen;
  __u8 slot;
  __u8 dir; /* 0 ingress (peer = source), 1 egress (peer = destination) */
  __u16 pad;
  __u32 ep;
  __u32 peer;
};
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 262144);
  __type(key, struct peer_key);
  __type(value, __u32);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} pol_peer SEC(".maps");

/* Policy, stage 2: (slot, protocol, port set, port) present = allowed; ranges are aligned prefixes. */
struct port_key {
  __u32 prefixlen;
  __u8 slot;
  __u8 proto;
  __u16 pad;
  __u32 set;
  __u16 port;
  __u16 pad2;
};
struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 262144);
  __type(key, struct port_key);
  __type(value, __u32);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} pol_port SEC(".maps");

struct flow_key {
  __u32 src;
  __u32 dst;
  __u16 sport;
  __u16 dport;
  __u32 proto;
};
struct flow_val {
  __u32 gen;
  __u32 pad;
  __u64 seen;
  /* Forwarding cache of this flow direction (flows only; 0 in frags): what the last packet that went through
   * every check was sent with. A later packet of the flow from the same underlay sender under the same config
   * version would get the same sender, route and FIB answers, so it is forwarded from here (sap_fast). */
  __u64 fwd_at; /* when the FIB answered; 0 = nothing cached */
  __u32 fwd_sender_ip;
  __u16 fwd_sender_port;
  __u16 fwd_hop_port;
  __u32 fwd_hop_ip;
  __u32 fwd_ifindex; /* 0: the next hop is another SaP of this namespace */
  __u8 fwd_dmac[ETH_ALEN];
  __u8 fwd_smac[ETH_ALEN];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct flow_key);
  __type(value, struct flow_val);
} flows SEC(".maps");

/* First fragments allowed recently (src, dst, proto, IP id): later fragments follow their verdict for 5 s. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct flow_key);
  __type(value, struct flow_val);
} frags SEC(".maps");

/* Port-set values of pol_peer: every protocol and port; nothing (an `except` hole under a shorter prefix). */
#define PORTSET_ALL 0
#define PORTSET_DENY 0xffffffff

#define FRAG_NS 5000000000ULL
/* A cached FIB answer is trusted this long: a neighbour or route change reaches a long flow within 1 s (a config
 * change, e.g. a pod moving, invalidates at once through `gen`). */
#define FWD_NS 1000000000ULL
/* Set on a packet this SaP re-addressed to another SaP of its namespace and left to the filters after its own
 * (sap_ingress_head); cleared by the SaP that takes it, or by sap_catch, which re-injects it if none did. */
#define OV_PASS_MARK 0x6081

static __always_inline int allows(__u32 slot, __u8 dir, __u32 ep, __u32 peer, __u8 proto, __u16 port) {
  struct peer_key pk = {.prefixlen = 96, .slot = slot, .dir = dir, .ep = ep, .peer = peer};
  __u32 *set = bpf_map_lookup_elem(&pol_peer, &pk);
  if (!set || *set == PORTSET_DENY) return 0;
  if (*set == PORTSET_ALL) return 1;
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP) return 0;
  struct port_key qk = {.prefixlen = 80, .slot = slot, .proto = proto, .set = *set, .port = port};
  return bpf_map_lookup_elem(&pol_port, &qk) != NULL;
}

static __always_inline int cached(void *map, struct flow_key *k, __u32 gen, __u64 now, __u64 idle) {
  struct flow_val *v = bpf_map_lookup_elem(map, k);
  if (!v || v->gen != gen || now - v->seen > idle) return 0;
  v->seen = now;
  return 1;
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

/* Re-encapsulates in place: this SaP is the new outer source, the next hop the destination (re-keyed when the
 * packet came with another epoch than this SaP sends). 0, or the counter to drop with. */
static __always_inline __u32 reencap(struct sap_cfg *cfg, struct gue *h, __u8 *g, void *end, struct iphdr *ip,
                                     struct udphdr *udp, __u32 hop_ip, __u16 hop_port) {
  if (h->epoch != cfg->send_epoch) {
    if (h->auth_len != cfg->send_len) return C_REKEY_LENGTH;
    g[9] = cfg->send_epoch;
    __u8 *a = g + GUE_FIXED_LEN;
    for (int i = 0; i < MAX_KEY; i++) {
      if (i >= cfg->send_len) break;
      if ((void *)(a + i + 1) > end) return C_TX_ERROR;
      a[i] = cfg->send_key[i];
    }
  }
  ip->saddr = cfg->listen_ip;
  ip->daddr = hop_ip;
  ip->ttl = 64;
  ip->check = 0;
  ip->check = ip_csum(ip);
  udp->source = cfg->listen_port;
  udp->dest = hop_port;
  udp->check = 0; /* IPv4 UDP without checksum: the inner packet carries its own */
  return 0;
}

/* The next hop is another SaP of this namespace (the gateways of several clusters in the router). The head
 * filter of an interface (sap_ingress_head: the SaP whose listen address it holds, attached before every other
 * SaP's) leaves the packet to the filters after it, which see it in the same pass; any other SaP sends it
 * back into ingress, where the target's filter takes it on a second pass (netif_rx: a backlog round trip and
 * every filter again). */
static __always_inline int to_local_sap(struct __sk_buff *skb, int head) {
  if (head) {
    skb->mark = OV_PASS_MARK;
    return PASS;
  }
  return bpf_redirect(skb->ingress_ifindex, BPF_F_INGRESS);
}

/* How much of the packet the checks read directly: up to the inner L4 ports (ICMP: echo id), as the GUE header
 * length and the inner IHL say, not a fixed maximum. A kernel sender's TCP payload sits in page fragments behind
 * the headers; pulling it too would copy it into the head on every packet. A packet that lies about the lengths
 * gets less than it needs and the bounds checks drop it as truncated. */
static __always_inline __u32 pull_len(struct __sk_buff *skb) {
  __u32 at = sizeof(struct ethhdr) + OUTER_LEN, want = at + GUE_MAX_HDR + 24;
  __u8 b0;
  if (!bpf_skb_load_bytes(skb, at, &b0, 1)) {
    __u32 hl = 4 + (b0 & 0x1f) * 4, ihl = 20;
    if (!bpf_skb_load_bytes(skb, at + hl, &b0, 1) && (b0 & 0xf) > 5) ihl = (b0 & 0xf) * 4;
    want = at + hl + ihl + 8;
  }
  return want < skb->len ? want : skb->len;
}

static __always_inline int sap_run(struct __sk_buff *skb, int head) {
  if (skb->protocol != bpf_htons(ETH_P_IP)) return PASS;
  __u32 zero = 0;
  struct active *act = bpf_map_lookup_elem(&active, &zero);
  if (!act) return PASS;
  __u32 slot = act->slot & 1, gen = act->gen;
  struct sap_cfg *cfg = bpf_map_lookup_elem(&sap_cfg, &slot);
  if (!cfg || cfg->listen_ip == 0) return PASS;

  /* Cheap test first (a copy, no pull): most packets crossing the node are not GUE for this SaP. */
  struct {
    struct iphdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o))) return PASS;
  if (o.ip.protocol != IPPROTO_UDP || o.ip.daddr != cfg->listen_ip || o.ip.ihl != 5 ||
      o.udp.dest != cfg->listen_port)
    return PASS;
  /* GUE header, inner IPv4 and ports into the linear area (a GSO packet's payload may stay paged). */
  bpf_skb_pull_data(skb, pull_len(skb));
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return PASS;
  if (skb->mark == OV_PASS_MARK) skb->mark = 0; /* taken: the mark stays in this namespace */

  count(C_RX);
  if (ip->frag_off & bpf_htons(0x3fff)) return drop_malformed(C_MAL_OUTER_FRAGMENT);
  __u32 ulen = bpf_ntohs(udp->len);
  if (ulen < sizeof(struct udphdr) || ulen > skb->len - sizeof(struct ethhdr) - sizeof(struct iphdr)) {
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
  code = gue_verify(skb, sizeof(struct ethhdr) + OUTER_LEN + GUE_FIXED_LEN, &h, cfg->overlay_id, slot);
  if (code == D_UNKNOWN_OVERLAY) return drop(C_UNKNOWN_OVERLAY);
  if (code == D_UNKNOWN_MODE) return drop(C_UNKNOWN_MODE);
  if (code == D_BAD_EPOCH) return drop(C_BAD_EPOCH);
  if (code != D_OK) return drop(C_BAD_KEY);
  if (h.proto != 4) return drop_malformed(C_MAL_INNER_NOT_IPV4);

  /* sap/packet.ts parseIpv4 */
  struct iphdr *in = (void *)(g + (h.hdr_len & 0xff));
  if ((void *)(in + 1) > end || h.inner_len < 20) goto bad_inner;
  __u32 ihl = in->ihl * 4;
  __u32 total = bpf_ntohs(in->tot_len);
  if (in->version != 4 || ihl < 20 || total < ihl || total > h.inner_len) goto bad_inner;
  __u16 frag = bpf_ntohs(in->frag_off);
  int more = frag & 0x2000, later = (frag & 0x1fff) != 0;
  struct flow_key fk = {.src = in->saddr, .dst = in->daddr, .proto = in->protocol};
  if (!later) {
    __u8 *l4 = (__u8 *)in + (ihl & 0x3c);
    __u32 l4len = total - ihl;
    if (fk.proto == IPPROTO_TCP || fk.proto == IPPROTO_UDP || fk.proto == IPPROTO_SCTP) {
      if (l4len < 4 || (void *)(l4 + 4) > end) goto bad_inner;
      fk.sport = *(__u16 *)l4;
      fk.dport = *(__u16 *)(l4 + 2);
    } else if (fk.proto == IPPROTO_ICMP) {
      if (l4len < 8 || (void *)(l4 + 8) > end) goto bad_inner;
      if (l4[0] == 0 || l4[0] == 8) fk.sport = fk.dport = *(__u16 *)(l4 + 4);
    }
  }

  __u64 now = bpf_ktime_get_ns();
  /* Fast path: a flow direction already forwarded from this underlay sender under this config version passes
   * the sender check, has the same next hop and (within FWD_NS) the same FIB answer, so the key check above is
   * all it needs: three hash lookups and the FIB lookup less per packet. */
  struct flow_val *fv = !more && !later ? bpf_map_lookup_elem(&flows, &fk) : NULL;
  if (fv && fv->gen == gen && now - fv->seen <= cfg->flow_idle_ns && fv->fwd_at && now - fv->fwd_at < FWD_NS &&
      fv->fwd_sender_ip == ip->saddr && fv->fwd_sender_port == udp->source) {
    fv->seen = now;
    count(C_ALLOWED_CACHED);
    __u32 err = reencap(cfg, &h, g, end, ip, udp, fv->fwd_hop_ip, fv->fwd_hop_port);
    if (err) return drop(err);
    __u32 out = fv->fwd_ifindex;
    if (!out) return to_local_sap(skb, head);
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) return drop(C_TX_ERROR);
    __builtin_memcpy(eth->h_dest, fv->fwd_dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fv->fwd_smac, ETH_ALEN);
    return bpf_redirect(out, 0);
  }

  /* Sender check (CONTRACT.md, "Policy semantics in the SaP"). */
  struct ep_key sk = {.slot = slot, .ip = fk.src};
  struct ep_val *src = bpf_map_lookup_elem(&endpoints, &sk);
  struct sender_key sdk = {.slot = slot, .ip = ip->saddr, .port = udp->source};
  __u32 *kind = bpf_map_lookup_elem(&senders, &sdk);
  if (kind && *kind == 2) {
    if (!src || (src->flags & EP_LOCAL)) return drop(C_SPOOFED_SOURCE);
  } else if (!src || !(src->flags & EP_LOCAL) || src->agent_ip != ip->saddr ||
             src->agent_port != udp->source) {
    return drop(kind ? C_SPOOFED_SOURCE : C_UNKNOWN_SENDER);
  }
  struct ep_key dk = {.slot = slot, .ip = fk.dst};
  struct ep_val *dst = bpf_map_lookup_elem(&endpoints, &dk);
  if (!dst || !(dst->flags & EP_HAS_HOP)) return drop(C_NO_ROUTE);

  if (later) {
    struct flow_key qk = {.src = fk.src, .dst = fk.dst, .proto = fk.proto, .sport = in->id};
    if (!cached(&frags, &qk, gen, now, FRAG_NS)) return drop(C_FRAGMENT_DROPPED);
    count(C_ALLOWED_FRAGMENT);
  } else if (cached(&flows, &fk, gen, now, cfg->flow_idle_ns)) {
    count(C_ALLOWED_CACHED);
  } else {
    if ((src->flags & (EP_LOCAL | EP_ISO_OUT)) == (EP_LOCAL | EP_ISO_OUT) &&
        !allows(slot, 1, fk.src, fk.dst, fk.proto, fk.dport))
      return drop(C_DENIED_POLICY);
    if ((dst->flags & (EP_LOCAL | EP_ISO_IN)) == (EP_LOCAL | EP_ISO_IN) &&
        !allows(slot, 0, fk.dst, fk.src, fk.proto, fk.dport))
      return drop(C_DENIED_POLICY);
    remember(&flows, &fk, gen, now);
    struct flow_key rk = {.src = fk.dst, .dst = fk.src, .sport = fk.dport, .dport = fk.sport, .proto = fk.proto};
    remember(&flows, &rk, gen, now);
    count(C_ALLOWED);
  }
  if (more && !later) {
    struct flow_key qk = {.src = fk.src, .dst = fk.dst, .proto = fk.proto, .sport = in->id};
    remember(&frags, &qk, gen, now);
  }

  __u32 hop_ip = dst->hop_ip;
  __u16 hop_port = dst->hop_port;
  __u32 err = reencap(cfg, &h, g, end, ip, udp, hop_ip, hop_port);
  if (err) return drop(err);

  struct bpf_fib_lookup fib = {.family = 2 /* AF_INET */, .ipv4_src = cfg->listen_ip, .ipv4_dst = hop_ip,
                               .ifindex = skb->ingress_ifindex};
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NOT_FWDED) {
    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
    return drop(C_TX_ERROR);
  }
  /* Remember how this flow direction leaves, for sap_fast (not for fragments: they keep the full path). */
  fv = !more && !later ? bpf_map_lookup_elem(&flows, &fk) : NULL;
  if (fv && fv->gen == gen) {
    fv->fwd_sender_ip = sdk.ip;
    fv->fwd_sender_port = sdk.port;
    fv->fwd_hop_ip = hop_ip;
    fv->fwd_hop_port = hop_port;
    fv->fwd_ifindex = rc == BPF_FIB_LKUP_RET_SUCCESS ? fib.ifindex : 0;
    __builtin_memcpy(fv->fwd_dmac, fib.dmac, ETH_ALEN);
    __builtin_memcpy(fv->fwd_smac, fib.smac, ETH_ALEN);
    fv->fwd_at = now;
  }
  if (rc == BPF_FIB_LKUP_RET_NOT_FWDED) return to_local_sap(skb, head);
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return drop(C_TX_ERROR);
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);

bad_inner:
  return drop_malformed(C_MAL_INNER_IPV4);
}

SEC("tc")
int sap_ingress(struct __sk_buff *skb) {
  return sap_run(skb, 0);
}

/* The same SaP as the first filter of the interface that holds its listen address (sap-main.ts attaches it
 * there, before every other SaP of the namespace). */
SEC("tc")
int sap_ingress_head(struct __sk_buff *skb) {
  return sap_run(skb, 1);
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
