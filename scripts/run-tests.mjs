#!/usr/bin/env node
// `npm test`: type-check, lint, then every test file by explicit path (Node 20's runner neither globs
// nor finds .ts files, and would pass having run nothing). Docker suites share one private engine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2]; // "unit" | "integration" | undefined (all)
const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
process.chdir(root);

// Every Docker-touching suite runs on each engine generation (API 1.41 and 1.45): what passes on one
// proves nothing about the other. ORCH_TEST_ENGINES=system limits it to the system's docker.io. Set but
// empty, or naming an unknown engine, is a mistake, not a request to skip the Docker suites and pass.
const ENGINES = ['system', 'docker26'];
const enginesEnv = process.env.ORCH_TEST_ENGINES;
const engines = enginesEnv === undefined ? ENGINES : enginesEnv.split(',').map((e) => e.trim());
const unknown = engines.filter((e) => !ENGINES.includes(e));
if (engines.length === 0 || unknown.length > 0 || new Set(engines).size !== engines.length) {
  console.error(
    `ORCH_TEST_ENGINES=${JSON.stringify(enginesEnv)}: expected a comma-separated list of distinct engines from ${ENGINES.join(', ')} ` +
      `(unset = all of them)${unknown.length > 0 ? `; unknown: ${unknown.map((e) => JSON.stringify(e)).join(', ')}` : ''}`,
  );
  process.exit(2);
}
if (only !== undefined && only !== 'unit' && only !== 'integration') {
  console.error(`usage: run-tests.mjs [unit|integration], got ${JSON.stringify(only)}`);
  process.exit(2);
}

function run(cmd, args, env = process.env) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const list = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.test.ts')).map((f) => path.join(dir, String(f))).sort()
    : [];

if (!only) {
  run('npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']);
  run('npx', ['--no-install', 'eslint', '.']);
}
const unit = only !== 'integration' ? list('test/unit') : [];
const integration = only !== 'unit' ? list('test/integration') : [];
if (unit.length + integration.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const runner = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000'];
if (unit.length > 0) run(process.execPath, [...runner, ...unit]);
// Suites that start no Docker engine (netmon alone, proxy-ARP paths on namespaces) run once, first.
const usesEngine = (f) => /from '\.\.\/support\/(private-engine|cloud-stack|agent-fixture|agent-process)\.js'/.test(fs.readFileSync(f, 'utf8'));
const engineFree = integration.filter((f) => !usesEngine(f));
const dockerSuites = integration.filter(usesEngine);
if (engineFree.length > 0) {
  console.log('\n# Integration suites without a Docker engine');
  run(process.execPath, [...runner, ...engineFree]);
}
for (const engine of dockerSuites.length > 0 ? engines : []) {
  console.log(`\n# Docker integration suites on engine: ${engine}`);
  run(process.execPath, [...runner, ...dockerSuites], { ...process.env, ORCH_TEST_ENGINE: engine });
}
