// bpf(2) map calls for the eBPF data path's loader (ebpf/loader.ts). Programming a config version used to spawn
// `bpftool batch` per push (about 10 ms of process start on this VM, several per policy update once every SaP
// and agent did it, plus one more spawn per /status to read the counters); these are the same kernel calls
// without the process: open a pinned map, write or delete many fixed-size entries in one N-API call, look one up.
// Loading and attaching stay with bpftool and tc (once per process, not per version).
#include <errno.h>
#include <linux/bpf.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, NULL, "napi call failed: " #call);                                      \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

static napi_value bpf_error(napi_env env, const char *what, int err) {
  char msg[320];
  snprintf(msg, sizeof msg, "bpf %s: %s", what, strerror(err));
  napi_value code, text, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_int32(env, err, &code);
  napi_create_error(env, NULL, text, &e);
  napi_set_named_property(env, e, "errno", code);
  napi_throw(env, e);
  return NULL;
}

static int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
}

// bpfObjGet(path) -> fd of a pinned map or program.
static napi_value obj_get(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "bpfObjGet(path: string)");
    return NULL;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.pathname = (uint64_t)(uintptr_t)path;
  long fd = sys_bpf(BPF_OBJ_GET, &a);
  if (fd < 0) {
    char what[4200];
    snprintf(what, sizeof what, "BPF_OBJ_GET %s", path);
    return bpf_error(env, what, errno);
  }
  napi_value res;
  CHECK(napi_create_int32(env, (int32_t)fd, &res));
  return res;
}

// bpfMapInfo(fd) -> [type, keySize, valueSize, maxEntries]: lets the loader check that the layouts it writes
// (maps.ts) are the ones the loaded object declares.
static napi_value map_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "bpfMapInfo(fd: number)");
    return NULL;
  }
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof mi);
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.info.bpf_fd = (uint32_t)fd;
  a.info.info_len = sizeof mi;
  a.info.info = (uint64_t)(uintptr_t)&mi;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0) return bpf_error(env, "BPF_OBJ_GET_INFO_BY_FD", errno);
  napi_value res, v;
  CHECK(napi_create_array_with_length(env, 4, &res));
  uint32_t vals[4] = {mi.type, mi.key_size, mi.value_size, mi.max_entries};
  for (uint32_t i = 0; i < 4; i++) {
    CHECK(napi_create_uint32(env, vals[i], &v));
    CHECK(napi_set_element(env, res, i, v));
  }
  return res;
}

// Shared argument parsing: (fd, keys: Buffer, keySize, [values: Buffer, valueSize]) with keys and values
// packed back to back. Returns the entry count, or -1 after throwing.
static long packed_args(napi_env env, napi_value *argv, size_t argc, int with_values, int32_t *fd,
                        uint8_t **keys, uint32_t *ksz, uint8_t **vals, uint32_t *vsz) {
  size_t klen = 0, vlen = 0;
  size_t need = with_values ? 5 : 3;
  if (argc < need || napi_get_value_int32(env, argv[0], fd) != napi_ok || !get_buffer(env, argv[1], keys, &klen) ||
      napi_get_value_uint32(env, argv[2], ksz) != napi_ok || *ksz == 0 || klen % *ksz != 0 ||
      (with_values && (!get_buffer(env, argv[3], vals, &vlen) ||
                       napi_get_value_uint32(env, argv[4], vsz) != napi_ok || *vsz == 0 ||
                       vlen != (klen / *ksz) * *vsz))) {
    napi_throw_type_error(env, NULL,
                          with_values ? "bpfMapUpdate(fd, keys: Buffer, keySize, values: Buffer, valueSize)"
                                      : "bpfMapDelete(fd, keys: Buffer, keySize)");
    return -1;
  }
  return (long)(klen / *ksz);
}

// bpfMapUpdate(fd, keys, keySize, values, valueSize) -> count written (BPF_ANY). Stops at the first failure
// and throws with its index, so the caller never goes on to flip a half-written version into force.
static napi_value map_update(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *keys, *vals = NULL;
  uint32_t ksz, vsz = 0;
  long n = packed_args(env, argv, argc, 1, &fd, &keys, &ksz, &vals, &vsz);
  if (n < 0) return NULL;
  for (long i = 0; i < n; i++) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)fd;
    a.key = (uint64_t)(uintptr_t)(keys + i * ksz);
    a.value = (uint64_t)(uintptr_t)(vals + i * vsz);
    a.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) {
      char what[96];
      snprintf(what, sizeof what, "BPF_MAP_UPDATE_ELEM (entry %ld of %ld)", i, n);
      return bpf_error(env, what, errno);
    }
  }
  napi_value res;
  CHECK(napi_create_int64(env, n, &res));
  return res;
}

// bpfMapDelete(fd, keys, keySize) -> count deleted; a key already absent is not an error.
static napi_value map_delete(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *keys;
  uint32_t ksz;
  long n = packed_args(env, argv, argc, 0, &fd, &keys, &ksz, NULL, NULL);
  if (n < 0) return NULL;
  long deleted = 0;
  for (long i = 0; i < n; i++) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)fd;
    a.key = (uint64_t)(uintptr_t)(keys + i * ksz);
    if (sys_bpf(BPF_MAP_DELETE_ELEM, &a) == 0)
      deleted++;
    else if (errno != ENOENT)
      return bpf_error(env, "BPF_MAP_DELETE_ELEM", errno);
  }
  napi_value res;
  CHECK(napi_create_int64(env, deleted, &res));
  return res;
}

// bpfMapLookup(fd, key, out) -> true when found (out filled; per-CPU maps need value size × possible CPUs,
// each value rounded up to 8 bytes), false when absent.
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *key, *out;
  size_t klen, olen;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !get_buffer(env, argv[1], &key, &klen) ||
      !get_buffer(env, argv[2], &out, &olen)) {
    napi_throw_type_error(env, NULL, "bpfMapLookup(fd, key: Buffer, out: Buffer)");
    return NULL;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)fd;
  a.key = (uint64_t)(uintptr_t)key;
  a.value = (uint64_t)(uintptr_t)out;
  napi_value res;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) {
    if (errno != ENOENT) return bpf_error(env, "BPF_MAP_LOOKUP_ELEM", errno);
    CHECK(napi_get_boolean(env, false, &res));
    return res;
  }
  CHECK(napi_get_boolean(env, true, &res));
  return res;
}

napi_status register_bpf(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bpfObjGet", NULL, obj_get, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapInfo", NULL, map_info, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapUpdate", NULL, map_update, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapDelete", NULL, map_delete, NULL, NULL, NULL, napi_default, NULL},
      {"bpfMapLookup", NULL, map_lookup, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
