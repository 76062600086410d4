#!/usr/bin/env bash
# Installs the agent on an edge box: the shared volume and the agent container, with the names and
# labels of CONTRACT §1. Usage: install.sh [image]   (default: orchestrator-agent:latest)
set -euo pipefail
IMAGE=${1:-orchestrator-agent:latest}
MTLS_DIR=${ORCH_MTLS_DIR:-$HOME/.mtls}
for f in client.crt client.key; do
  [ -r "$MTLS_DIR/$f" ] || { echo "install: missing $MTLS_DIR/$f (the device certificate)" >&2; exit 1; }
done
docker volume create orchestrator-shared >/dev/null
docker rm -f orchestrator_agent >/dev/null 2>&1 || true
docker run -d --name orchestrator_agent --restart unless-stopped \
  --label edge.autonomy.role=orchestrator-agent --label edge.autonomy.managed=true \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v orchestrator-shared:/var/orchestrator \
  -v "$MTLS_DIR":/root/.mtls:ro \
  "$IMAGE" run
echo "orchestrator_agent started; check it with: docker exec orchestrator_agent node dist/main.js state"
