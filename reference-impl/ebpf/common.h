/* Shared by the agent and SaP programs: map value layouts (mirrored byte for byte by maps.ts), counter ids
 * (mirrored by counters.ts, checked by a unit test) and the GUE decoder, which follows gue/codec.ts check for
 * check and in the same order, so both data paths drop a malformed packet for the same reason. */
#ifndef OV_COMMON_H
#define OV_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Decap flags arrived in Linux 6.3; Debian 12's uapi headers (6.1) lack them, the running kernel has them. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV6
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif
#define OV_AF_INET 2
#define OV_AF_INET6 10

#define GUE_FIXED_LEN 12
#define GUE_MAX_HDR 128
#define MAX_KEY 64
#define AUTH_KEY 1
#define AUTH_MAC 2
#define OUTER_LEN (sizeof(struct iphdr) + sizeof(struct udphdr))
#define OUTER6_LEN (sizeof(struct ipv6hdr) + sizeof(struct udphdr))
/* sap/packet.ts FAMILY6: inner IPv6 flows are keyed apart from IPv4 ones (flow and fragment caches). */
#define FAMILY6 0x100
/* Marks decapsulated packets (a mark never comes from the wire, so only this program can set it): what the
 * user-space data path's nftables guard admits them by; the eBPF agent guards the pod itself (agent.bpf.c). */
#define OV_DECAP_MARK 0x6080

/* Counter ids: index into the per-CPU `counters` array. Order = COUNTER_NAMES in counters.ts. */
enum {
  C_RX,
  C_ALLOWED,
  C_ALLOWED_CACHED,
  C_DENIED_POLICY,
  C_BAD_KEY,
  C_BAD_EPOCH,
  C_UNKNOWN_OVERLAY,
  C_MALFORMED,
  C_UNKNOWN_SENDER,
  C_SPOOFED_SOURCE,
  C_NO_ROUTE,
  C_TX_ERROR,
  C_ENCAP,
  C_DECAP,
  C_NOT_FOR_ME,
  C_PLAIN_TO_OVERLAY,
  C_ALLOWED_FRAGMENT,
  C_FRAGMENT_DROPPED,
  C_REKEY_LENGTH,
  C_UNKNOWN_MODE,
  C_GUARD_DROPPED, /* agent: plain traffic to the pod that is no reply of its own (the pod guard, agent.bpf.c) */
  /* malformed:<codec reason> (codec drop code N = C_MAL_BASE + N - 1), then the SaP's own malformed reasons */
  C_MAL_BASE,
  C_MAL_INNER_IPV6 = C_MAL_BASE + 11,
  C_MAL_INNER_IPV4,
  C_MAL_OUTER_FRAGMENT,
  C_COUNT
};

/* Codec drop codes (gue/codec.ts DROP). */
enum {
  D_OK,
  D_TRUNCATED,
  D_OVERSIZED,
  D_BAD_VERSION,
  D_CONTROL,
  D_BAD_HLEN,
  D_UNKNOWN_FLAGS,
  D_BAD_PROTO,
  D_UNKNOWN_MODE,
  D_BAD_AUTH_LEN,
  D_BAD_RESERVED,
  D_BAD_INNER,
  D_UNKNOWN_OVERLAY,
  D_BAD_EPOCH,
  D_BAD_KEY
};

/* Double buffering: every config table is keyed by a slot (0/1). User space fills the inactive slot, then
 * flips `active` with one 8-byte write, so a packet sees one whole version or the other, never a mix.
 * `gen` (the config version) invalidates the flow cache: an entry counts only when written under it. */
struct active {
  __u32 slot;
  __u32 gen;
};

/* A GUE sender on the underlay, keyed per config slot: the agent's `accept` tables (the SaPs it takes GUE
 * from) and the SaP's `senders` tables (local agents, peer SaPs) share the layout; maps.ts writes both. */
struct ul_key {
  __u32 slot;
  __u32 ip;
  __u16 port;
  __u16 pad;
};

struct ul6_key {
  __u32 slot;
  __u8 ip[16];
  __u16 port;
  __u16 pad;
};

struct keyval {
  __u32 len; /* 0 = no key for this epoch */
  __u8 key[MAX_KEY];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct active);
} active SEC(".maps");

/* Index slot * 256 + epoch. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 512);
  __type(key, __u32);
  __type(value, struct keyval);
} keys SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, C_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 id) {
  __u64 *v = bpf_map_lookup_elem(&counters, &id);
  if (v) *v += 1;
}

static __always_inline void count_malformed(__u32 reason) {
  count(C_MALFORMED);
  count(C_MAL_BASE + reason - 1);
}

struct gue {
  __u32 hdr_len;
  __u32 proto;
  __u32 overlay_id;
  __u32 mode;
  __u32 epoch;
  __u32 auth_len;
  __u32 inner_len;
};

/* gue/codec.ts decode(): structure only. g points at the GUE header, len is the UDP payload length. */
static __always_inline int gue_decode(__u8 *g, void *data_end, __u32 len, struct gue *h) {
  if (len < GUE_FIXED_LEN || (void *)(g + GUE_FIXED_LEN) > data_end) return D_TRUNCATED;
  __u8 b0 = g[0];
  if ((b0 >> 6) != 0) return D_BAD_VERSION;
  if (b0 & 0x20) return D_CONTROL;
  __u32 hdr_len = 4 + (b0 & 0x1f) * 4;
  if (hdr_len < GUE_FIXED_LEN) return D_BAD_HLEN;
  if (len < hdr_len) return D_TRUNCATED;
  if (g[2] != 0 || g[3] != 0) return D_UNKNOWN_FLAGS;
  __u8 proto = g[1];
  if (proto != 4 && proto != 41) return D_BAD_PROTO;
  __u8 mode = g[8];
  if (mode != AUTH_KEY && mode != AUTH_MAC) return D_UNKNOWN_MODE;
  __u8 auth_len = g[10];
  if (auth_len == 0 || GUE_FIXED_LEN + ((auth_len + 3) & ~3) != hdr_len) return D_BAD_AUTH_LEN;
  if (mode == AUTH_MAC && auth_len != 24) return D_BAD_AUTH_LEN;
  if (g[11] != 0) return D_BAD_RESERVED;
  __u32 inner_len = len - hdr_len;
  __u8 *in = g + (hdr_len & 0xff);
  if (inner_len < 1 || (void *)(in + 1) > data_end) return D_BAD_INNER;
  if ((*in >> 4) != (proto == 4 ? 4 : 6)) return D_BAD_INNER;
  h->hdr_len = hdr_len;
  h->proto = proto;
  h->overlay_id = ((__u32)g[4] << 24) | ((__u32)g[5] << 16) | ((__u32)g[6] << 8) | g[7];
  h->mode = mode;
  h->epoch = g[9];
  h->auth_len = auth_len;
  h->inner_len = inner_len;
  return D_OK;
}

/* gue/codec.ts verify(): overlay, mode, epoch, key bytes (compared without an early exit). The key is read with
 * bpf_skb_load_bytes: its length varies per packet, which direct packet access cannot bound for the verifier. */
static __always_inline int gue_verify(struct __sk_buff *skb, __u32 auth_off, struct gue *h, __u32 overlay_id,
                                      __u32 slot) {
  if (h->overlay_id != overlay_id) return D_UNKNOWN_OVERLAY;
  if (h->mode != AUTH_KEY) return D_UNKNOWN_MODE;
  __u32 idx = slot * 256 + h->epoch;
  struct keyval *k = bpf_map_lookup_elem(&keys, &idx);
  if (!k || k->len == 0) return D_BAD_EPOCH;
  __u32 len = h->auth_len;
  if (k->len != len || len > MAX_KEY || len < 1) return D_BAD_KEY;
  /* 64-bit words instead of byte steps, and only the words the key has (two for a 16-byte key): this runs for
   * every packet in every agent and SaP on the path, where its instructions are rarely still in the cache.
   * Bytes past `len` are masked out of both sides. */
  __u64 got[MAX_KEY / 8] = {};
  if (bpf_skb_load_bytes(skb, auth_off, got, len)) return D_BAD_KEY;
  const __u64 *want = (const __u64 *)(void *)k->key;
  __u64 diff = 0;
#pragma unroll
  for (int w = 0; w < MAX_KEY / 8; w++) {
    int n = (int)len - w * 8;
    if (n <= 0) break;
    __u64 m = n >= 8 ? ~0ULL : (1ULL << (n * 8)) - 1;
    diff |= (got[w] ^ want[w]) & m;
  }
  return diff == 0 ? D_OK : D_BAD_KEY;
}

/* The first `need` bytes (a constant), or the whole packet if it is shorter, are in the linear area already: a
 * packet from a veth or a redirect usually carries its headers (a small one entirely) in its head, and then the
 * programs skip the length probes and bpf_skb_pull_data. */
static __always_inline int linear(struct __sk_buff *skb, __u32 need) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  __u32 len = skb->len;
  return data + need <= end || (len <= 0xffff && data + len <= end);
}

/* 16-byte address compare without a loop the verifier has to walk. */
static __always_inline int ip6_eq(const void *a, const void *b) {
  const __u32 *x = a, *y = b;
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

static __always_inline int ip6_zero(const void *a) {
  const __u32 *x = a;
  return (x[0] | x[1] | x[2] | x[3]) == 0;
}

static __always_inline __u16 ip_csum(struct iphdr *ip) {
  __u32 s = 0;
  __u16 *w = (__u16 *)ip;
#pragma unroll
  for (int i = 0; i < 10; i++) s += w[i];
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return ~s;
}

#endif
