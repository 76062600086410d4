// What `npm run build` ships (scripts/build.mjs, the esbuild bundle both images run), built into a temp
// directory laid out like the image (/app: package.json, node_modules, dist/): it starts, netmon's part
// statically loads no library (only node's own modules and our code), what no one imports is left out
// (zod's locales but English, and its JSON Schema import), and the agent's part loads dockerode from
// node_modules with the SSH and BuildKit modules still deferred.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-bundle-'));
after(() => fs.rmSync(app, { recursive: true, force: true }));
fs.copyFileSync(path.join(root, 'package.json'), path.join(app, 'package.json'));
fs.symlinkSync(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs'), '--outdir', path.join(app, 'dist'), '--metafile', path.join(app, 'meta.json')], { cwd: root });

interface Meta {
  outputs: Record<string, { entryPoint?: string; imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, { bytesInOutput: number }> }>;
}
const meta = JSON.parse(fs.readFileSync(path.join(app, 'meta.json'), 'utf8')) as Meta;
const outputs = Object.fromEntries(Object.entries(meta.outputs).map(([f, o]) => [path.resolve(root, f), o]));
const outputOf = (entry: string) => Object.keys(outputs).find((f) => outputs[f]!.entryPoint === entry);
/** The modules that have code in these output files (esbuild lists the tree-shaken ones with 0 bytes). */
const modulesIn = (files: string[]) => files.flatMap((f) => Object.entries(outputs[f]!.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([m]) => m));
const dist = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [path.join(app, 'dist/main.js'), ...args], { cwd: app, env: { PATH: process.env.PATH ?? '', ORCH_DATA_DIR: path.join(app, 'data'), ...env }, encoding: 'utf8' });

test('the bundle starts: help, a configuration error named, netmon too', () => {
  const help = dist(['help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: orchestrator-agent/);
  const netmon = dist(['netmon'], { ORCH_NETMON_DEBOUNCE_MS: 'soon' });
  assert.equal(netmon.status, 2);
  assert.match(netmon.stderr, /ORCH_NETMON_DEBOUNCE_MS: must be a positive whole number/);
});

test('the bundle knows its commit (git HEAD at build time); the images\' AGENT_VERSION names the version', () => {
  const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  const r = dist(['--version'], { AGENT_VERSION: 'v9.8.7' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^orchestrator-agent v9\\.8\\.7 \\(commit ${head}(-dirty)?\\)\n$`));
});

test("netmon's part loads, before any command needs more, only node's modules and our own code", () => {
  const sidecar = outputOf('src/netmon/sidecar.ts');
  assert.ok(sidecar, 'netmon has a file of its own');
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const i of outputs[f]!.imports) {
      if (i.kind !== 'import-statement') continue;
      if (i.external) assert.match(i.path, /^node:/, `${path.basename(f)} imports ${i.path} at load`);
      else walk(path.resolve(root, i.path));
    }
  };
  walk(sidecar);
  const libraries = modulesIn([...seen]).filter((m) => m.includes('node_modules/'));
  assert.deepEqual(libraries, [], 'libraries in what netmon loads at start');
});

test("what nothing imports is left out: zod's other locales (English stays: our messages) and JSON Schema import", () => {
  const inputs = modulesIn(Object.keys(outputs));
  assert.ok(inputs.some((i) => /node_modules\/zod\/v4\/classic\/schemas\.js$/.test(i)), 'zod is bundled');
  assert.deepEqual(inputs.filter((i) => /node_modules\/zod\/v4\/(locales\/(?!en\.js)|classic\/from-json-schema)/.test(i)), []);
});

test("the agent's part loads dockerode from node_modules, SSH and BuildKit still deferred", () => {
  const agent = outputOf('src/agent.ts');
  assert.ok(agent, 'the agent has a file of its own');
  const probe = `await import(${JSON.stringify(agent)});
    const loaded = Object.keys((await import('node:module')).createRequire(import.meta.url).cache);
    console.log(JSON.stringify({ dockerode: loaded.some((f) => f.includes('/dockerode/')), heavy: loaded.filter((f) => /\\/(ssh2|@grpc|protobufjs)\\//.test(f)) }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { dockerode: true, heavy: [] });
});
