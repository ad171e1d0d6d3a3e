/* The SaP program's tables and constants (sap.bpf.c), laid out byte for byte as ebpf/maps.ts writes them. */
#ifndef OV_SAP_MAPS_H
#define OV_SAP_MAPS_H

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
  /* IPv6 underlay: the IPv6 socket (`listen6`, or `listen` itself when that is IPv6); all zero = none. */
  __u8 listen_ip6[16];
  __u16 listen_port6; /* network order */
  __u16 pad6;
  /* The overlay IPv6 /96 (network order): its last 32 bits are the endpoint identities. */
  __u32 prefix6[3];
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
#define EP_V4 16     /* the endpoint has IPv4 (sap/config.ts `ipv4`) */
#define EP_V6 32     /* ... and IPv6 (`ipv6`): a family it lacks does not exist for it */
#define EP_AGENT6 64 /* its agent's underlay address is IPv6 (agent_ip6) */
#define EP_HOP6 128  /* the next hop is an IPv6 underlay address (hop_ip6) */
struct ep_val {
  __u32 agent_ip;
  __u32 hop_ip;
  __u16 agent_port;
  __u16 hop_port;
  __u32 flags;
  __u8 agent_ip6[16];
  __u8 hop_ip6[16];
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ep_key);
  __type(value, struct ep_val);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} endpoints SEC(".maps");

/* Underlay senders: local agents (kind 1) and peer SaPs (kind 2). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ul_key);
  __type(value, __u32);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} senders SEC(".maps");

/* The same for senders on the IPv6 underlay. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ul6_key);
  __type(value, __u32);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} senders6 SEC(".maps");

/* Policy, stage 1: (slot, direction, endpoint, peer address) → port set. The compiler (maps.ts) makes the
 * prefixes' answers exact under longest-prefix match, `except` included; port set 0 = every protocol. */
struct peer_key {
  __u32 prefixlen;
  __u8 slot;
  __u8 dir; /* 0 ingress (peer = source), 1 egress (peer = destination); | DIR_V6 for the IPv6 rules */
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
  __u32 fwd_peer; /* the cached next hop is a local agent: bpf_redirect_peer (sap_send) */
  __u64 seen;
  /* Forwarding cache of this flow direction (flows only; 0 in frags): what the last packet that went through
   * every check was sent with. A later packet of the flow from the same underlay sender under the same config
   * version gets the same sender, route and FIB answers, so it is forwarded from here (the fast path in
   * sap_gue). IPv4 underlay in and out only: the IPv6 underlay and family changes take the full path. */
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

/* Interfaces that are veths into another namespace (pod links), by ifindex: written by sap-main.ts from the
 * namespace's links, not versioned. A packet for a local agent behind one goes to the pod's side directly. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u32);
} peer_devs SEC(".maps");

/* The ifindex of the interface that holds this SaP's listen address, where it is the head filter (attached
 * before every other SaP's filter of the namespace); 0 = none. Written by sap-main.ts, not versioned. One program
 * serves the head and every other interface and reads its role here: one JIT image per SaP, not two, so both
 * directions of a flow run the same (warmer) code. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} head_if SEC(".maps");

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
 * (as the head filter: head_if); cleared by the SaP that takes it, or by sap_catch, which re-injects it if none
 * did. */
#define OV_PASS_MARK 0x6081
/* IPv6 rules (ingress6/egress6) live beside the IPv4 ones: their peers are identities too (the last 32 bits of
 * an overlay IPv6 address), so the same 32-bit keys with a family bit in `dir` decide them. */
#define DIR_V6 2

#endif
