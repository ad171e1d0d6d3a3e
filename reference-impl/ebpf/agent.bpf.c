// SPDX-License-Identifier: GPL-2.0
/* Agent role in the kernel: tc on the pod's underlay interface, inside the pod's namespace (where the user-space
 * agent's TUN would be). Egress: IPv4 to the overlay prefix is wrapped in today's GUE header toward the pod's
 * SaP. Ingress: GUE from an accepted SaP with the overlay's key and the pod's overlay address is unwrapped;
 * plain packets to the overlay address are dropped (pod-local default deny; the nftables guard does the rest). */
#include "common.h"

struct agent_cfg {
  __u32 overlay_id;
  __u32 overlay_ip; /* all addresses and ports in network order */
  __u32 overlay_net;
  __u32 overlay_mask;
  __u32 listen_ip;
  __u32 sap_ip;
  __u16 listen_port;
  __u16 sap_port;
  __u32 hdr_len; /* bytes of `hdr` (the GUE header for the send key, precomputed by user space) */
  __u8 hdr[GUE_MAX_HDR];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct agent_cfg);
} agent_cfg SEC(".maps");

/* Accepted GUE senders (SaP address, port). */
struct accept_key {
  __u32 slot;
  __u32 ip;
  __u16 port;
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct accept_key);
  __type(value, __u32);
} accept SEC(".maps");

static __always_inline struct agent_cfg *config(__u32 *slot) {
  __u32 zero = 0;
  struct active *act = bpf_map_lookup_elem(&active, &zero);
  if (!act) return NULL;
  *slot = act->slot & 1;
  struct agent_cfg *cfg = bpf_map_lookup_elem(&agent_cfg, slot);
  return cfg && cfg->listen_ip ? cfg : NULL;
}

SEC("tc")
int agent_egress(struct __sk_buff *skb) {
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  __u32 slot;
  struct agent_cfg *cfg = config(&slot);
  if (!cfg) return TC_ACT_OK;
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  if ((ip->daddr & cfg->overlay_mask) != cfg->overlay_net) return TC_ACT_OK;

  __u32 hl = cfg->hdr_len;
  if (hl < GUE_FIXED_LEN || hl > GUE_MAX_HDR) return TC_ACT_SHOT;
  __u32 inner_len = skb->len - sizeof(struct ethhdr);
  __u32 grow = OUTER_LEN + hl;
  /* ENCAP flags: the kernel records inner headers and marks GSO packets as UDP tunnel packets, so a TCP
   * super-packet is still segmented (with the GUE header copied into every segment) where it has to be. */
  if (bpf_skb_adjust_room(skb, grow, BPF_ADJ_ROOM_MAC,
                          BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP)) {
    count(C_TX_ERROR);
    return TC_ACT_SHOT;
  }
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
  if (bpf_skb_store_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o), 0) ||
      bpf_skb_store_bytes(skb, sizeof(struct ethhdr) + OUTER_LEN, cfg->hdr, hl, 0)) {
    count(C_TX_ERROR);
    return TC_ACT_SHOT;
  }
  count(C_ENCAP);
  return TC_ACT_OK;
}

SEC("tc")
int agent_ingress(struct __sk_buff *skb) {
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  __u32 slot;
  struct agent_cfg *cfg = config(&slot);
  if (!cfg) return TC_ACT_OK;
  struct {
    struct iphdr ip;
    struct udphdr udp;
  } o;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o.ip))) return TC_ACT_OK;
  if (o.ip.daddr == cfg->overlay_ip) {
    count(C_PLAIN_TO_OVERLAY);
    return TC_ACT_SHOT;
  }
  if (o.ip.protocol != IPPROTO_UDP || o.ip.daddr != cfg->listen_ip || o.ip.ihl != 5) return TC_ACT_OK;
  if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), &o, sizeof(o)) || o.udp.dest != cfg->listen_port)
    return TC_ACT_OK;
  /* GUE header and inner IPv4 header into the linear area, no more: a kernel sender's TCP payload sits in page
   * fragments, and pulling it would copy it into the head on every packet (a lying GUE length gets a short pull,
   * and the bounds checks drop it). */
  __u32 want = sizeof(struct ethhdr) + OUTER_LEN + GUE_MAX_HDR + 20;
  __u8 b0;
  if (!bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + OUTER_LEN, &b0, 1))
    want = sizeof(struct ethhdr) + OUTER_LEN + 4 + (b0 & 0x1f) * 4 + 20;
  if (want > skb->len) want = skb->len;
  bpf_skb_pull_data(skb, want);
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return TC_ACT_OK;

  count(C_RX);
  struct accept_key ak = {.slot = slot, .ip = ip->saddr, .port = udp->source};
  if (!bpf_map_lookup_elem(&accept, &ak)) {
    count(C_UNKNOWN_SENDER);
    return TC_ACT_SHOT;
  }
  if (ip->frag_off & bpf_htons(0x3fff)) {
    count(C_MALFORMED);
    count(C_MAL_OUTER_FRAGMENT);
    return TC_ACT_SHOT;
  }
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
  if (code != D_OK) {
    count(code == D_UNKNOWN_OVERLAY ? C_UNKNOWN_OVERLAY
          : code == D_UNKNOWN_MODE  ? C_UNKNOWN_MODE
          : code == D_BAD_EPOCH     ? C_BAD_EPOCH
                                    : C_BAD_KEY);
    return TC_ACT_SHOT;
  }
  struct iphdr *in = (void *)(g + (h.hdr_len & 0xff));
  if (h.proto != 4 || h.inner_len < 20 || (void *)(in + 1) > end || in->daddr != cfg->overlay_ip) {
    count(C_NOT_FOR_ME);
    return TC_ACT_SHOT;
  }
  if (bpf_skb_adjust_room(skb, -(__s32)(OUTER_LEN + h.hdr_len), BPF_ADJ_ROOM_MAC, 0)) {
    count(C_TX_ERROR);
    return TC_ACT_SHOT;
  }
  skb->mark = OV_DECAP_MARK;
  count(C_DECAP);
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
