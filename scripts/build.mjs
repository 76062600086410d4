#!/usr/bin/env node
// `npm run build`: the agent as both images run it. esbuild bundles src/main.ts (from the current
// directory) into <outdir>/main.js plus one file per part loaded on demand (netmon's sidecar, the agent,
// each CLI command, DHCP, proxy-ARP, …) and the chunks they share. Why a bundle (issue #12,
// docs/performance.md "Round 4"): V8 keeps the source text of every loaded script in the heap, and
// `import … from 'zod'` alone loads zod's 40 locales and its JSON Schema code; bundled, with comments and
// whitespace out and what nothing imports left out, the agent's VmRSS was 3.5–4.8 MiB lower in an A/B run.
// - Names are kept (no identifier minification): stack traces still name the functions; the .map files
//   map lines back to src/ (`NODE_OPTIONS=--enable-source-maps` uses them).
// - dockerode stays in node_modules (src/docker/dockerode.ts requires it after deferring two of its
//   modules), and so do werift (only a WebRTC session loads it) and ws's optional native helpers.
// - The CommonJS libraries bundled into ES modules need `require` for node's own modules: the banner.
// Usage: node scripts/build.mjs [--outdir DIR] [--metafile FILE]
//   DIR defaults to dist and is emptied first; FILE gets esbuild's metafile (what went into which file).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';

const args = process.argv.slice(2);
const opts = {};
while (args.length > 0) {
  const [flag, value] = args.splice(0, 2);
  if ((flag !== '--outdir' && flag !== '--metafile') || !value) {
    console.error('usage: node scripts/build.mjs [--outdir DIR] [--metafile FILE]');
    process.exit(2);
  }
  opts[flag.slice(2)] = path.resolve(value);
}
const outdir = opts.outdir ?? path.resolve('dist');
fs.rmSync(outdir, { recursive: true, force: true });
// `orchestrator-agent version` prints the commit: ORCH_BUILD_COMMIT (CI), else git's HEAD (with -dirty
// when the tree has changes), else none (src/version.ts then reads the images' build arg).
const commit = process.env.ORCH_BUILD_COMMIT || gitCommit();
function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return '';
  }
}
const result = await esbuild.build({
  entryPoints: ['src/main.ts'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none', // the licences ship with the production node_modules beside dist/
  sourcemap: 'linked',
  sourcesContent: false,
  external: ['werift', 'bufferutil', 'utf-8-validate'],
  banner: { js: "import { createRequire as __orchCreateRequire } from 'node:module'; const require = __orchCreateRequire(import.meta.url);" },
  define: { __ORCH_COMMIT__: JSON.stringify(commit) },
  logLevel: 'warning',
  metafile: opts.metafile !== undefined,
});
if (opts.metafile) fs.writeFileSync(opts.metafile, JSON.stringify(result.metafile));
fs.chmodSync(path.join(outdir, 'main.js'), 0o755);
