#!/usr/bin/env node
// `npm test`: type-check, lint, then every test file by explicit path (Node 20's runner neither globs
// nor finds .ts files, and would pass having run nothing). Docker suites share one private engine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2]; // "unit" | "integration" | undefined (all)
const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
process.chdir(root);

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
const files = [...(only !== 'integration' ? list('test/unit') : []), ...(only !== 'unit' ? list('test/integration') : [])];
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000', ...files]);
