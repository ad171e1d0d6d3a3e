# Testbed tools image: what the harness's measurements run inside pods on Kubernetes (Node 20, iperf3,
# sockperf, and the harness's own traffic workers and probe server from src/traffic/), so a kind run records
# RR/CRR/iperf3 figures with the same tools and result schema as Mininet.
#
# Build from the repository root and load it into a kind cluster:
#   docker build -f docker/tools.Dockerfile -t policy-testbed/tools:0.1.0 .
#   kind load docker-image policy-testbed/tools:0.1.0 --name <cluster>
FROM node:20-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends iperf3 sockperf iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/testbed
# autocannon for the HTTP worker, pinned to the harness's own version.
RUN npm init -y >/dev/null && npm install --omit=dev --no-audit --no-fund autocannon@9.0.0
COPY src/traffic/*.mjs ./traffic/

# The probe server answers with the host identity and doubles as the probe agent (see probe-server.mjs);
# the workers are started by exec with their JSON argument, exactly as on Mininet.
ENTRYPOINT ["node"]
CMD ["/opt/testbed/traffic/probe-server.mjs"]
