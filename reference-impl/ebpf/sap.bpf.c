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

SEC("tc")
int sap_ingress(struct __sk_buff *skb) {
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
  __u32 want = sizeof(struct ethhdr) + OUTER_LEN + GUE_MAX_HDR + 24;
  if (want > skb->len) want = skb->len;
  bpf_skb_pull_data(skb, want);
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return PASS;

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

  __u64 now = bpf_ktime_get_ns();
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

  /* Re-encapsulate in place: this SaP is the new outer source, the next hop the destination. */
  __u32 hop_ip = dst->hop_ip;
  __u16 hop_port = dst->hop_port;
  if (h.epoch != cfg->send_epoch) {
    if (h.auth_len != cfg->send_len) return drop(C_REKEY_LENGTH);
    g[9] = cfg->send_epoch;
    __u8 *a = g + GUE_FIXED_LEN;
    for (int i = 0; i < MAX_KEY; i++) {
      if (i >= cfg->send_len) break;
      if ((void *)(a + i + 1) > end) return drop(C_TX_ERROR);
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

  struct bpf_fib_lookup fib = {.family = 2 /* AF_INET */, .ipv4_src = cfg->listen_ip, .ipv4_dst = hop_ip,
                               .ifindex = skb->ingress_ifindex};
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
    data = (void *)(long)skb->data;
    end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) return drop(C_TX_ERROR);
    __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
    return bpf_redirect(fib.ifindex, 0);
  }
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
  /* The next hop is another SaP of this namespace: back into ingress, where its filter takes it. */
  if (rc == BPF_FIB_LKUP_RET_NOT_FWDED) return bpf_redirect(skb->ingress_ifindex, BPF_F_INGRESS);
  return drop(C_TX_ERROR);

bad_inner:
  return drop_malformed(C_MAL_INNER_IPV4);
}

char LICENSE[] SEC("license") = "GPL";
