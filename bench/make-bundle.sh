#!/bin/sh
# The experimental production bundle measured in docs/performance.md: dist/ (npm run build) bundled by
# esbuild (tsx's dependency, already in node_modules) into dist-bundle/main.mjs, one level below the
# project like dist/ (version.ts reads ../package.json), with ssh2, @grpc/grpc-js, @grpc/proto-loader
# and protobufjs replaced by an inert stub. Then: BENCH_MAIN=dist-bundle/main.mjs bench/idle.bench.ts
set -e
cd "$(dirname "$0")/.."
# The stub (kept out of the tree: eslint's project service would refuse a .cjs file): every access returns itself.
stub=$(mktemp -d)/stub.cjs
trap 'rm -rf "$(dirname "$stub")"' EXIT
echo "const f = new Proxy(function () {}, { get: (t, k) => (k === Symbol.toPrimitive ? () => '' : f), apply: () => f, construct: () => f }); module.exports = f;" > "$stub"
node_modules/.bin/esbuild dist/main.js --bundle --platform=node --format=esm --target=node20 --outfile=dist-bundle/main.mjs \
  --alias:ssh2=$stub --alias:@grpc/grpc-js=$stub --alias:@grpc/proto-loader=$stub --alias:protobufjs=$stub \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" --log-level=warning
ls -l dist-bundle/main.mjs
