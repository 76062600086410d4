# The agent's image (container orchestrator_agent, CONTRACT §1). COPY-only: no RUN, so one prepared
# context builds for every --platform without QEMU, and it builds on an engine without network.
# Prepare the context on the build host (dist/ and node_modules are architecture-independent):
#   npm ci && npm run build && rm -rf node_modules && npm ci --omit=dev --ignore-scripts
# BASE_IMAGE: node 20 + iproute2 + util-linux nsenter + busybox (the same base as install/Dockerfile.netmon):
#   outside CI: docker build -f install/Dockerfile.base -t orchestrator-base:latest install
#   offline CI: imported from the host's binaries (test/support/agent-image.ts, docs/ci-cd.md)
# Build: docker build --build-arg BASE_IMAGE=orchestrator-base:latest -t orchestrator-agent:latest .
# Run:   install/install.sh (docs/installation.md) gives it the engine's socket, the shared volume, the
#        certificate and the labels of CONTRACT §1.
ARG BASE_IMAGE=orchestrator-base:latest
FROM ${BASE_IMAGE}
# Memory (docs/performance.md, issue #12): the light settings (MALLOC_ARENA_MAX=2, --v8-pool-size=1,
# --max-semi-space-size=1, --jitless and, on Node 20, --no-expose-wasm; why each: src/light-settings.ts)
# belong to the program: bin/orchestrator-agent execs node with them on Node 20, dist/main.js re-executes
# itself with them on a Node that has process.execve (22.15+, 24), so the ENTRYPOINT names no flag and a
# base image on another Node keeps the set that Node takes. The ENV keeps MALLOC_ARENA_MAX for the
# HEALTHCHECK's and `docker exec`'s node too.
ENV NODE_ENV=production ORCH_DATA_DIR=/var/orchestrator MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
COPY dist ./dist
COPY bin ./bin
VOLUME ["/var/orchestrator"]
ENTRYPOINT ["/app/bin/orchestrator-agent"]
# Everything above is shared with install/Dockerfile.netmon (same layers on a box that has both).
LABEL org.opencontainers.image.title="orchestrator-agent" \
      org.opencontainers.image.description="Edge agent keeping OpenPLC runtime containers converged to a declared state"
CMD ["run"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "dist/main.js", "health"]
# Last, so that the layers above stay shared whatever the version: `orchestrator-agent version`, the
# heartbeat's agent_version and get_orchestrator_version read AGENT_VERSION (the Python agent's images
# set it the same way); AGENT_COMMIT only when the bundle has no commit of its own (scripts/build.mjs).
ARG VERSION=
ARG COMMIT=
ENV AGENT_VERSION=${VERSION} AGENT_COMMIT=${COMMIT}
