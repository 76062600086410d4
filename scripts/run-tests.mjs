#!/usr/bin/env node
// `npm test`: type-check, lint, then every test file by explicit path (Node 20's runner neither globs
// nor finds .ts files, and would pass having run nothing). Two jobs at the same time: the checks (tsc,
// eslint, unit tests) and the integration suites (engine-free once, then every Docker suite per engine).
// Each job's lines carry its name; any failing job fails the run, named at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2]; // "unit" | "integration" | undefined (all)
// Further arguments: run only these test files (paths as listed below), through the same jobs.
const picked = process.argv.slice(3).map((f) => path.normalize(f));
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
  console.error(`usage: run-tests.mjs [unit|integration [test files]], got ${JSON.stringify(only)}`);
  process.exit(2);
}
// ORCH_TEST_SERIAL=1: the jobs one after another (same namespaces), e.g. to read one pass's output alone.
const serial = process.env.ORCH_TEST_SERIAL === '1';

const list = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.test.ts')).map((f) => path.join(dir, String(f))).sort()
      .filter((f) => picked.length === 0 || picked.includes(f))
    : [];

const unit = only !== 'integration' ? list('test/unit') : [];
const integration = only !== 'unit' ? list('test/integration') : [];
const missing = picked.filter((f) => !unit.includes(f) && !integration.includes(f));
if (missing.length > 0) {
  console.error(`not a test file of this mode: ${missing.join(', ')}`);
  process.exit(2);
}
if (unit.length + integration.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// The timeout bounds each test and each whole file: agent-update took 196 s alone and was cancelled at the
// old 300 s when run after agent-crash and agent-image on a loaded machine (2026-12-03).
const runner = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=900000'];
// Suites that start no Docker engine (netmon alone, proxy-ARP paths on namespaces) run once.
const usesEngine = (f) => /from '\.\.\/support\/(private-engine|cloud-stack|agent-fixture|agent-process)\.js'/.test(fs.readFileSync(f, 'utf8'));
const engineFree = integration.filter((f) => !usesEngine(f));
const dockerSuites = integration.filter(usesEngine);

// Each engine pass in a network (and mount) namespace of its own (scripts/in-private-netns.sh), the passes
// at the same time (the default since 2026-12-04: the one full run so took 1434 s against ~2650 s one
// after another, webrtc and debug green in both passes). ORCH_TEST_ENGINE_NAMESPACES=0: the passes one
// after another on the host's namespaces, as the suites were first written.
const nsEnv = process.env.ORCH_TEST_ENGINE_NAMESPACES ?? '1';
if (nsEnv !== '0' && nsEnv !== '1') {
  console.error(`ORCH_TEST_ENGINE_NAMESPACES=${JSON.stringify(nsEnv)}: expected 1 (default) or 0`);
  process.exit(2);
}
const ownNamespaces = nsEnv === '1';

/** @typedef {{ cmd: string, args: string[], env?: NodeJS.ProcessEnv, label?: string }} Step */
/** @type {{ name: string, steps: Step[] }[]} */
const jobs = [];
const checkSteps = [];
if (!only) {
  checkSteps.push({ cmd: 'npx', args: ['--no-install', 'tsc', '--noEmit', '-p', '.'] });
  checkSteps.push({ cmd: 'npx', args: ['--no-install', 'eslint', '.'] });
}
if (unit.length > 0) checkSteps.push({ cmd: process.execPath, args: [...runner, ...unit] });
if (checkSteps.length > 0) jobs.push({ name: 'checks', steps: checkSteps });
// ORCH_TEST_SHARDS=N (with own namespaces): each engine's Docker suites split over N jobs (each its own
// namespaces and private engine), round robin over the files by size; 1 (default) is one job per engine.
const shardsEnv = process.env.ORCH_TEST_SHARDS ?? '1';
const shards = Number(shardsEnv);
if (!Number.isInteger(shards) || shards < 1) {
  console.error(`ORCH_TEST_SHARDS=${JSON.stringify(shardsEnv)}: expected a whole number ≥ 1`);
  process.exit(2);
}
// One step per Docker suite: each file's time is printed at the end (where CI's time goes), and a failing
// file does not keep the others (or the next engine) from running.
const passSteps = (engine, files) => files.map((f) => ownNamespaces
  ? { cmd: 'unshare', args: ['--net', '--mount', '--propagation', 'slave', 'sh', 'scripts/in-private-netns.sh', process.execPath, ...runner, f], env: { ...process.env, ORCH_TEST_ENGINE: engine }, label: `${engine} ${f}` }
  : { cmd: process.execPath, args: [...runner, f], env: { ...process.env, ORCH_TEST_ENGINE: engine }, label: `${engine} ${f}` });
const freeSteps = engineFree.length > 0 ? [{ cmd: process.execPath, args: [...runner, ...engineFree], label: 'engine-free suites' }] : [];
if (!ownNamespaces) {
  // One job on the host's namespaces, as the suites were written for: engine-free suites once, then one
  // pass per engine, one after another (they share the fixed LAN subnets); beside the checks.
  const steps = [...freeSteps, ...(dockerSuites.length > 0 ? engines : []).flatMap((e) => passSteps(e, dockerSuites))];
  if (steps.length > 0) jobs.push({ name: 'docker', steps });
} else {
  // A pass's namespace reaches no network: what an engine needs from outside is fetched here first.
  const fetchSteps = engines.includes('docker26') && dockerSuites.length > 0
    ? [{ cmd: process.execPath, args: ['--import', 'tsx', '-e', "(await import('./test/support/private-engine.ts')).docker26Root()"] }]
    : [];
  if (freeSteps.length > 0) jobs.push({ name: 'host', steps: freeSteps });
  const bySize = [...dockerSuites].sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
  const shardFiles = Array.from({ length: Math.min(shards, dockerSuites.length) }, (_, i) => bySize.filter((_f, k) => k % shards === i).sort());
  for (const engine of dockerSuites.length > 0 ? engines : []) {
    shardFiles.forEach((files, i) => jobs.push({ name: shardFiles.length > 1 ? `${engine}/${i + 1}` : engine, steps: [...(engine === 'docker26' ? fetchSteps : []), ...passSteps(engine, files)] }));
  }
}

const width = Math.max(...jobs.map((j) => j.name.length));
const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
    process.exit(130);
  });
}

/** Copies `stream` to `out` line by line, each line prefixed; calls `onLine` for each. */
function prefixLines(stream, out, prefix, onLine) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      out.write(`${prefix}${l}\n`);
      onLine(l);
    }
  });
  stream.on('end', () => {
    if (rest) {
      out.write(`${prefix}${rest}\n`);
      onLine(rest);
    }
  });
}

/** Runs a job's steps in order; a failed checks step (tsc, lint) stops the job, a failed suite does not.
 * Counts the TAP summary lines and times each labelled step. */
async function runJob(job) {
  const prefix = `[${job.name.padEnd(width)}] `;
  const started = Date.now();
  const r = { name: job.name, code: 0, pass: 0, fail: 0, seconds: 0, steps: [], failures: [] };
  let step;
  // A failed test's name and the first line of its error, from the TAP block under its `not ok` line; a
  // parent that failed only because a subtest did is left out (the subtest is the news).
  let failing;
  const count = (l) => {
    const m = /^# (pass|fail) (\d+)$/.exec(l);
    if (m) r[m[1]] += Number(m[2]);
    const n = /^\s*not ok \d+ - (.*)$/.exec(l);
    if (n) failing = { where: step.label ?? job.name, name: n[1], error: '', kind: '' };
    else if (failing) {
      const t = l.trim();
      if (t.startsWith('failureType:')) failing.kind = t;
      else if (failing.error === '|-') failing.error = t;
      else if (t.startsWith('error:') && !failing.error) failing.error = t.slice(6).trim();
      else if (t === '...') {
        if (!failing.kind.includes('subtestsFailed')) r.failures.push(failing);
        failing = undefined;
      }
    }
  };
  for (const s of job.steps) {
    step = s;
    process.stdout.write(`${prefix}$ ${s.cmd} ${s.args.join(' ')}\n`);
    const t0 = Date.now();
    const code = await new Promise((resolve) => {
      const c = spawn(s.cmd, s.args, { stdio: ['ignore', 'pipe', 'pipe'], env: s.env ?? process.env });
      children.add(c);
      prefixLines(c.stdout, process.stdout, prefix, count);
      prefixLines(c.stderr, process.stderr, prefix, () => {});
      c.on('error', (e) => {
        process.stderr.write(`${prefix}${s.cmd}: ${e.message}\n`);
        resolve(127);
      });
      c.on('close', (code, signal) => {
        children.delete(c);
        resolve(code ?? (signal ? 128 : 1));
      });
    });
    if (s.label) r.steps.push({ label: s.label, code, seconds: Math.round((Date.now() - t0) / 1000) });
    if (code !== 0 && r.code === 0) r.code = code;
    if (code !== 0 && !s.label) break;
  }
  r.seconds = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`${prefix}done: exit ${r.code} after ${r.seconds} s\n`);
  return r;
}

const results = [];
if (serial) for (const j of jobs) results.push(await runJob(j));
else results.push(...(await Promise.all(jobs.map(runJob))));

const timed = results.flatMap((r) => r.steps).sort((a, b) => b.seconds - a.seconds);
if (timed.length > 0) {
  console.log('\n# suites by time');
  for (const t of timed) console.log(`#   ${String(t.seconds).padStart(5)} s  ${t.code === 0 ? 'ok  ' : 'FAIL'}  ${t.label}`);
}
console.log('\n# jobs');
for (const r of results) console.log(`#   ${r.name.padEnd(width)}  exit ${r.code}  ${r.seconds} s  (${r.pass} passed, ${r.fail} failed)`);
const failed = results.filter((r) => r.code !== 0);
const total = results.reduce((a, r) => ({ pass: a.pass + r.pass, fail: a.fail + r.fail }), { pass: 0, fail: 0 });
console.log(`tests: ${total.pass} passed, ${total.fail} failed`);
// Last, so that a log's tail (all CI shows) names what failed.
const failures = results.flatMap((r) => r.failures);
if (failures.length > 0) {
  console.log('\n# failed tests');
  for (const f of failures.slice(0, 20)) console.log(`#   ${f.where}: ${f.name}: ${f.error.replace(/^'|'$/g, '').slice(0, 160)}`);
  if (failures.length > 20) console.log(`#   … and ${failures.length - 20} more`);
}
if (failed.length > 0) {
  console.error(`FAILED: ${failed.map((r) => `${r.name} (exit ${r.code})`).join(', ')}`);
  process.exit(1);
}
