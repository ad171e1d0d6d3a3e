/* The SaP's parsers of the inner packet (sap/packet.ts parseIpv4 and parseIpv6, check for check, so both data
 * paths decide and drop alike). Included by sap.bpf.c after its map types (struct flow_key). */
#ifndef OV_SAP_INNER_H
#define OV_SAP_INNER_H

/* The inner packet's fields the decision needs (sap/packet.ts Inner): identities, ports, protocol (| FAMILY6 for
 * inner IPv6, as the flow cache keys it), and the fragment state. */
struct inner {
  struct flow_key fk; /* sap.bpf.c: (src, dst, sport, dport, proto) */
  __u32 frag_id; /* IPv4: the 16-bit IP id as on the wire; IPv6: the fragment header's 32-bit id */
  __u8 more, later, v6, pad;
};

#define INNER_OK 0
#define INNER_MALFORMED 1
#define INNER_NOT_OVERLAY 3

/* sap/packet.ts parseIpv4 */
static __always_inline int parse_inner4(struct iphdr *in, void *end, __u32 inner_len, struct inner *p) {
  if ((void *)(in + 1) > end || inner_len < 20) return INNER_MALFORMED;
  __u32 ihl = in->ihl * 4;
  __u32 total = bpf_ntohs(in->tot_len);
  if (in->version != 4 || ihl < 20 || total < ihl || total > inner_len) return INNER_MALFORMED;
  __u16 frag = bpf_ntohs(in->frag_off);
  p->more = (frag & 0x2000) != 0;
  p->later = (frag & 0x1fff) != 0;
  p->frag_id = in->id;
  p->fk.src = in->saddr;
  p->fk.dst = in->daddr;
  p->fk.proto = in->protocol;
  if (p->later) return INNER_OK;
  __u8 *l4 = (__u8 *)in + (ihl & 0x3c);
  __u32 l4len = total - ihl;
  if (p->fk.proto == IPPROTO_TCP || p->fk.proto == IPPROTO_UDP || p->fk.proto == IPPROTO_SCTP) {
    if (l4len < 4 || (void *)(l4 + 4) > end) return INNER_MALFORMED;
    p->fk.sport = *(__u16 *)l4;
    p->fk.dport = *(__u16 *)(l4 + 2);
  } else if (p->fk.proto == IPPROTO_ICMP) {
    if (l4len < 8 || (void *)(l4 + 8) > end) return INNER_MALFORMED;
    if (l4[0] == 0 || l4[0] == 8) p->fk.sport = p->fk.dport = *(__u16 *)(l4 + 4);
  }
  return INNER_OK;
}

#define EXT_HOPOPTS 0
#define EXT_ROUTING 43
#define EXT_FRAGMENT 44
#define EXT_AH 51
#define EXT_DSTOPTS 60
#define MAX_EXT_HEADERS 8

/* sap/packet.ts parseIpv6, check for check: both addresses inside the overlay /96 (else no overlay endpoint),
 * extension headers walked (at most 8, each inside the payload), the fragment header's id and flags, then the
 * transport ports or the ICMPv6 echo id. Read with bpf_skb_load_bytes: header offsets vary per packet. */
static __always_inline int parse_inner6(struct __sk_buff *skb, __u32 off, __u32 inner_len, const __u32 *prefix6,
                                        struct inner *p) {
  struct ipv6hdr ip6;
  if (inner_len < 40 || bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6))) return INNER_MALFORMED;
  if (ip6.version != 6) return INNER_MALFORMED;
  __u32 payload = bpf_ntohs(ip6.payload_len);
  if (40 + payload > inner_len) return INNER_MALFORMED;
  __u32 end = off + 40 + payload;
  const __u32 *s = ip6.saddr.in6_u.u6_addr32, *d = ip6.daddr.in6_u.u6_addr32;
  if (((s[0] ^ prefix6[0]) | (s[1] ^ prefix6[1]) | (s[2] ^ prefix6[2]) | (d[0] ^ prefix6[0]) |
       (d[1] ^ prefix6[1]) | (d[2] ^ prefix6[2])) != 0)
    return INNER_NOT_OVERLAY;
  p->v6 = 1;
  p->fk.src = s[3];
  p->fk.dst = d[3];
  __u32 next = ip6.nexthdr;
  __u32 pos = off + 40;
  __u8 e[8];
  for (int n = 0; n <= MAX_EXT_HEADERS + 1; n++) {
    if (n > MAX_EXT_HEADERS) return INNER_MALFORMED;
    __u32 cur = next;
    if (cur != EXT_HOPOPTS && cur != EXT_ROUTING && cur != EXT_DSTOPTS && cur != EXT_AH && cur != EXT_FRAGMENT)
      break;
    if (pos + 8 > end || bpf_skb_load_bytes(skb, pos, e, 8)) return INNER_MALFORMED;
    next = e[0];
    if (cur == EXT_FRAGMENT) {
      p->more = e[3] & 1;
      p->frag_id = ((__u32)e[4] << 24) | ((__u32)e[5] << 16) | ((__u32)e[6] << 8) | e[7];
      pos += 8;
      if ((((__u32)e[2] << 8) | e[3]) >> 3) {
        /* A later fragment: no ports; decided by its first fragment. */
        p->later = 1;
        p->fk.proto = next | FAMILY6;
        return INNER_OK;
      }
    } else if (cur == EXT_AH) {
      pos += ((__u32)e[1] + 2) * 4;
    } else {
      pos += ((__u32)e[1] + 1) * 8;
    }
    if (pos > end) return INNER_MALFORMED;
  }
  p->fk.proto = next | FAMILY6;
  __u32 l4len = end - pos;
  if (next == IPPROTO_TCP || next == IPPROTO_UDP || next == IPPROTO_SCTP) {
    if (l4len < 4 || bpf_skb_load_bytes(skb, pos, e, 4)) return INNER_MALFORMED;
    p->fk.sport = *(__u16 *)e;
    p->fk.dport = *(__u16 *)(e + 2);
  } else if (next == IPPROTO_ICMPV6) {
    if (l4len < 8 || bpf_skb_load_bytes(skb, pos, e, 8)) return INNER_MALFORMED;
    /* Echo request 128 / reply 129: the identifier as both ports, so request and reply are one flow. */
    if (e[0] == 128 || e[0] == 129) p->fk.sport = p->fk.dport = *(__u16 *)(e + 4);
  }
  return INNER_OK;
}

#endif
