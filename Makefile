# All set-up a fresh machine needs, then the two things a user runs:
#   sudo make main   -> the default scenario suite on Mininet, ending in a report under results/
#   sudo make test   -> unit + integration tests (integration needs root: real namespaces and nftables)
# Every target is idempotent: set-up steps that are already done are skipped.

APT_PACKAGES := mininet iputils-ping nftables iperf3 sockperf iproute2 fonts-dejavu-core python3 clang llvm libbpf-dev bpftool libelf-dev
NODE_STAMP := node_modules/.install-stamp

.PHONY: setup apt node addon ebpf main test test-unit bench clean-leftovers

setup: apt node addon ebpf

apt:
	@bash scripts/require-root.sh "installing apt packages"
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

node: $(NODE_STAMP)
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

addon: node
	@if [ -f reference-impl/native/binding.gyp ]; then \
	  npx node-gyp rebuild -C reference-impl/native >/dev/null && echo "built reference-impl/native"; fi

# The kernel data path of mode overlay-ebpf (reference-impl/ebpf/): BPF objects built with Debian's clang.
ebpf: apt
	@mkdir -p reference-impl/ebpf/build && for r in sap agent; do \
	  clang -O2 -g -Wall -target bpf -I/usr/include/x86_64-linux-gnu -c reference-impl/ebpf/$$r.bpf.c \
	    -o reference-impl/ebpf/build/$$r.bpf.o || exit 1; done; echo "built reference-impl/ebpf"

main: setup
	@bash scripts/require-root.sh "the Mininet suite"
	./bin/testbed main

test: setup
	@bash scripts/require-root.sh "the integration tests (real network namespaces and nftables)"
	@# The layers run one after the other: the unit project's parallel workers would otherwise share the two
	@# CPUs with the first integration files, whose real-packet probes have 1 s timeouts.
	npx vitest run --project unit
	npx vitest run --project integration

test-unit: node addon
	npx vitest run --project unit

bench: setup
	@bash scripts/require-root.sh "the benchmarks"
	@for b in $$(ls bench/*.ts | grep -v -- "-lib.ts$$"); do echo "== $$b"; npx tsx $$b || exit 1; done

clean-leftovers:
	./bin/testbed cleanup
