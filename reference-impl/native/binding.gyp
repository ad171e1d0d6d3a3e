{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["src/tun.c", "src/bpf.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
