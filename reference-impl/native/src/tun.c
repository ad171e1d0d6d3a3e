// TUN access for Node: the one thing TypeScript cannot do (ioctl TUNSETIFF) plus non-blocking reads driven by
// uv_poll on the Node loop. On each wake-up up to `batch` packets are drained into slots of a JS-owned arena
// (no allocation per packet) and JS is called once with (firstSlot, count); lengths go to a JS Int32Array.
// Slots are used round-robin so a slot is reused only after `slots` packets: a dgram send that had to queue
// (EAGAIN) still points at intact memory.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, NULL, "napi call failed: " #call);                                      \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

typedef struct poller {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_ref arena_ref;
  napi_ref lens_ref;
  napi_async_context actx;
  uint8_t *arena;
  int32_t *lens;
  size_t slot_size, slots, headroom, batch, next;
  int fd;
  int stopped;
} poller_t;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// open(name: string, offload: boolean) -> [fd, actualName]. With offload every packet read or written is
// preceded by a 10-byte struct virtio_net_hdr and the kernel hands over TCP super-packets (TSO) with partial
// checksums, so user space handles one packet per ~64 KB instead of per MTU.
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(name: string)");
    return NULL;
  }
  bool offload = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &offload);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len < IFNAMSIZ ? len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", e);
  }
  if (offload && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETOFFLOAD", e);
  }
  napi_value res, jfd, jname;
  CHECK(napi_create_array_with_length(env, 2, &res));
  CHECK(napi_create_int32(env, fd, &jfd));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &jname));
  CHECK(napi_set_element(env, res, 0, jfd));
  CHECK(napi_set_element(env, res, 1, jname));
  return res;
}

static void on_closed(uv_handle_t *h) {
  poller_t *p = (poller_t *)h->data;
  free(p);
}

static void poller_release(poller_t *p) {
  if (p->stopped) return;
  p->stopped = 1;
  uv_poll_stop(&p->poll);
  napi_delete_reference(p->env, p->cb);
  napi_delete_reference(p->env, p->arena_ref);
  napi_delete_reference(p->env, p->lens_ref);
  napi_async_destroy(p->env, p->actx);
  uv_close((uv_handle_t *)&p->poll, on_closed);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h->data;
  if (p->stopped) return;
  size_t first = p->next, n = 0;
  int err = 0;
  if (status == 0) {
    while (n < p->batch) {
      size_t slot = (first + n) % p->slots;
      uint8_t *dst = p->arena + slot * p->slot_size + p->headroom;
      ssize_t r = read(p->fd, dst, p->slot_size - p->headroom);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) err = errno;
        break;
      }
      p->lens[slot] = (int32_t)r;
      n++;
    }
  } else {
    err = -status;
  }
  p->next = (first + n) % p->slots;
  if (n == 0 && err == 0) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[3], result;
  napi_get_reference_value(env, p->cb, &cb);
  napi_get_global(env, &recv);
  napi_create_uint32(env, (uint32_t)first, &argv[0]);
  napi_create_uint32(env, (uint32_t)n, &argv[1]);
  napi_create_int32(env, err, &argv[2]);
  // make_callback (not call_function) so process.nextTick and promise jobs queued by JS run right after.
  napi_make_callback(env, p->actx, recv, cb, 3, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
  // A TUN in error (its interface deleted, say) would wake the loop forever: stop; JS decides what follows.
  if (err != 0 && n == 0) poller_release(p);
}

// poll(fd, arena: Buffer, lens: Int32Array, slotSize, headroom, batch, cb(first, n, err)) -> handle
static napi_value tun_poll(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "poll(fd, arena, lens, slotSize, headroom, batch, cb)");
    return NULL;
  }
  int32_t fd;
  uint32_t slot_size, headroom, batch;
  void *arena, *lens;
  size_t arena_len, lens_len;
  napi_typedarray_type lt;
  napi_value lab;
  size_t loff;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_buffer_info(env, argv[1], &arena, &arena_len));
  CHECK(napi_get_typedarray_info(env, argv[2], &lt, &lens_len, &lens, &lab, &loff));
  CHECK(napi_get_value_uint32(env, argv[3], &slot_size));
  CHECK(napi_get_value_uint32(env, argv[4], &headroom));
  CHECK(napi_get_value_uint32(env, argv[5], &batch));
  if (lt != napi_int32_array || slot_size <= headroom || arena_len / slot_size == 0 ||
      lens_len < arena_len / slot_size || batch == 0) {
    napi_throw_range_error(env, NULL, "poll: bad arena/lens/slotSize/headroom/batch");
    return NULL;
  }
  poller_t *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, "calloc", ENOMEM);
  p->env = env;
  p->fd = fd;
  p->arena = arena;
  p->lens = lens;
  p->slot_size = slot_size;
  p->slots = arena_len / slot_size;
  p->headroom = headroom;
  p->batch = batch < p->slots ? batch : p->slots;
  CHECK(napi_create_reference(env, argv[6], 1, &p->cb));
  CHECK(napi_create_reference(env, argv[1], 1, &p->arena_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &p->lens_ref));
  napi_value rname;
  CHECK(napi_create_string_utf8(env, "tun-poll", NAPI_AUTO_LENGTH, &rname));
  CHECK(napi_async_init(env, NULL, rname, &p->actx));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r == 0) {
    p->poll.data = p;
    r = uv_poll_start(&p->poll, UV_READABLE, on_readable);
  }
  if (r != 0) {
    napi_delete_reference(env, p->cb);
    napi_delete_reference(env, p->arena_ref);
    napi_delete_reference(env, p->lens_ref);
    napi_async_destroy(env, p->actx);
    free(p);
    return throw_errno(env, "uv_poll", -r);
  }
  napi_value handle;
  CHECK(napi_create_external(env, p, NULL, NULL, &handle));
  return handle;
}

// stop(handle): stop polling and release; safe to call twice.
static napi_value tun_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "stop(handle)");
    return NULL;
  }
  poller_release((poller_t *)data);
  return NULL;
}

// write(fd, buf, off, len) -> bytes written or -errno (never throws on I/O errors: packets may be dropped)
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint32_t off, len;
  void *buf;
  size_t blen;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &buf, &blen) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &off) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &len) != napi_ok || (size_t)off + len > blen) {
    napi_throw_type_error(env, NULL, "write(fd, buf, off, len)");
    return NULL;
  }
  ssize_t r = write(fd, (uint8_t *)buf + off, len);
  napi_value res;
  CHECK(napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &res));
  return res;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

// original_dst(fd) -> [address, port]: where a TCP connection was going before an nftables `redirect` sent it
// to this socket (getsockopt SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST for IPv6). Node has no getsockopt; the mesh
// sidecar needs this one call to know the port (and, outbound, the peer) a redirected connection was for.
static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "originalDst(fd)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return throw_errno(env, "getsockname", errno);
  char ip[INET6_ADDRSTRLEN] = {0};
  int port;
  int v4 = ss.ss_family == AF_INET;
  if (!v4) {
    // An IPv6 socket may carry an IPv4 connection (mapped address): try the IPv4 option first.
    struct sockaddr_in in4;
    socklen_t l4 = sizeof in4;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &in4, &l4) == 0) {
      inet_ntop(AF_INET, &in4.sin_addr, ip, sizeof ip);
      port = ntohs(in4.sin_port);
      goto done;
    }
    struct sockaddr_in6 in6;
    socklen_t l6 = sizeof in6;
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &in6, &l6) < 0)
      return throw_errno(env, "getsockopt IP6T_SO_ORIGINAL_DST", errno);
    inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof ip);
    port = ntohs(in6.sin6_port);
  } else {
    struct sockaddr_in in4;
    socklen_t l4 = sizeof in4;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &in4, &l4) < 0)
      return throw_errno(env, "getsockopt SO_ORIGINAL_DST", errno);
    inet_ntop(AF_INET, &in4.sin_addr, ip, sizeof ip);
    port = ntohs(in4.sin_port);
  }
done:;
  napi_value res, jip, jport;
  CHECK(napi_create_array_with_length(env, 2, &res));
  CHECK(napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &jip));
  CHECK(napi_create_int32(env, port, &jport));
  CHECK(napi_set_element(env, res, 0, jip));
  CHECK(napi_set_element(env, res, 1, jport));
  return res;
}

napi_status register_bpf(napi_env env, napi_value exports); // bpf.c

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
      {"poll", NULL, tun_poll, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, tun_stop, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL},
      {"originalDst", NULL, original_dst, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(register_bpf(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
