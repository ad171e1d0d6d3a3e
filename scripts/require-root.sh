#!/usr/bin/env bash
# Mininet, network namespaces and nftables need root; say so plainly instead of failing halfway.
if [ "$(id -u)" != "0" ]; then
  echo "error: ${1:-this} needs root (network namespaces, Mininet, nftables). Run it with sudo, e.g. 'sudo make test'." >&2
  exit 1
fi
