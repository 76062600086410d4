# The agent's image. COPY-only, so one prepared context builds for every --platform without QEMU.
# Prepare the context first (on the build host):
#   npm ci && npm run build && rm -rf node_modules && npm ci --omit=dev --ignore-scripts
# Run (see install/install.sh): -v /var/run/docker.sock:/var/run/docker.sock -v orchestrator-shared:/var/orchestrator
#   -v $HOME/.mtls:/root/.mtls:ro --label edge.autonomy.role=orchestrator-agent --label edge.autonomy.managed=true
ARG NODE_IMAGE=node:20-alpine
FROM ${NODE_IMAGE}
ENV NODE_ENV=production ORCH_DATA_DIR=/var/orchestrator
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
COPY dist ./dist
VOLUME ["/var/orchestrator"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["run"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "dist/main.js", "health"]
