// The light settings (src/light-settings.ts) hold however `run` and netmon are started: the process that
// ends up running has the flags in /proc/<pid>/cmdline and MALLOC_ARENA_MAX in /proc/<pid>/environ.
// Started from a temp app laid out like the image (package.json, node_modules, bin/, dist/ built by
// scripts/build.mjs): through bin/orchestrator-agent, `npm start`, and a plain `node dist/main.js run|netmon`
// (the re-exec; on Node 20, which has no process.execve, test/support/execve-stand-in.mjs stands in for it).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { lightFlags, reexecPlan } from '../../src/light-settings.js';
import { waitFor } from '../support/wait.js';

const root = path.resolve(import.meta.dirname, '../..');
const major = Number(process.versions.node.split('.')[0]);
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-light-'));
after(() => fs.rmSync(app, { recursive: true, force: true }));
fs.copyFileSync(path.join(root, 'package.json'), path.join(app, 'package.json'));
fs.symlinkSync(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
fs.mkdirSync(path.join(app, 'bin'));
fs.copyFileSync(path.join(root, 'bin/orchestrator-agent'), path.join(app, 'bin/orchestrator-agent'));
fs.chmodSync(path.join(app, 'bin/orchestrator-agent'), 0o755);
execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs'), '--outdir', path.join(app, 'dist')], { cwd: root });
const standIn = path.join(root, 'test/support/execve-stand-in.mjs');

/** No engine, no cloud: `run` idles on its retries, netmon on its socket (a private data dir each). */
function env(name: string): NodeJS.ProcessEnv {
  const { MALLOC_ARENA_MAX: _, ...rest } = process.env; // the test's own environment must not supply it
  fs.mkdirSync(path.join(app, `data-${name}`), { recursive: true }); // netmon exits without it
  return { ...rest, ORCH_DATA_DIR: path.join(app, `data-${name}`), ORCH_CLOUD_URL: 'off', DOCKER_HOST: `unix://${app}/no-engine.sock`, EXECVE_LOG: path.join(app, `execve-${name}.log`) };
}

function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => (out.push(p), (kids.get(p) ?? []).forEach(walk));
  walk(pid);
  return out;
}

const nul = (f: string) => fs.readFileSync(f, 'utf8').split('\0').filter(Boolean);

/** The node process (the started one or a descendant) running `dist/main.js <command>`, once it has started. */
async function runningNode(child: ChildProcess, command: string): Promise<{ cmdline: string[]; environ: string[] }> {
  let found: { cmdline: string[]; environ: string[] } | undefined;
  const withFlags = () => found !== undefined && lightFlags(major).every((f) => found!.cmdline.includes(f));
  await waitFor(`node running dist/main.js ${command} with the light flags`, () => {
    for (const pid of descendants(child.pid!)) {
      try {
        const cmdline = nul(`/proc/${pid}/cmdline`);
        const i = cmdline.findIndex((a) => a.endsWith('dist/main.js'));
        // the stand-in's waiting parent has no flags: the one wanted is the deepest with the command
        if (i > 0 && cmdline[i + 1] === command) found = { cmdline, environ: nul(`/proc/${pid}/environ`) };
      } catch {
        // gone meanwhile
      }
    }
    return withFlags();
  }).catch(() => undefined); // the assertions below say what is missing
  assert.ok(found, `no node running dist/main.js ${command} under pid ${child.pid}`);
  return found;
}

async function startedWith(name: string, cmd: string, args: string[], command: string) {
  const child = spawn(cmd, args, { cwd: app, env: env(name), stdio: 'ignore', detached: true });
  try {
    const { cmdline, environ } = await runningNode(child, command);
    for (const f of lightFlags(major)) assert.ok(cmdline.includes(f), `${name}: ${f} missing from ${cmdline.join(' ')}`);
    assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), `${name}: MALLOC_ARENA_MAX=2 missing from its environment`);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

test('a plain `node dist/main.js run` re-executes itself with the light settings', () =>
  startedWith('plain-run', process.execPath, ['--import', standIn, 'dist/main.js', 'run'], 'run'));

test('a plain `node dist/main.js netmon` re-executes itself with the light settings', () =>
  startedWith('plain-netmon', process.execPath, ['--import', standIn, 'dist/main.js', 'netmon'], 'netmon'));

test('bin/orchestrator-agent run and netmon, and `npm start`, run with the light settings', async () => {
  await startedWith('bin-run', 'bin/orchestrator-agent', ['run'], 'run');
  await startedWith('bin-netmon', 'bin/orchestrator-agent', ['netmon'], 'netmon');
  await startedWith('npm-start', 'npm', ['start'], 'run');
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin['orchestrator-agent'], 'bin/orchestrator-agent');
});

test('bin/orchestrator-agent holds the Node 20 flags of lightFlags(20)', () => {
  const line = fs.readFileSync(path.join(root, 'bin/orchestrator-agent'), 'utf8').split('\n').find((l) => /^\s*exec node --/.test(l));
  assert.deepEqual(line?.trim().split(/\s+/).slice(2, -3), lightFlags(20));
});

test('a CLI command does not re-execute (it starts as fast as before)', () => {
  const e = env('cli');
  const r = spawnSync(process.execPath, ['--import', standIn, 'dist/main.js', 'version'], { cwd: app, env: e, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.existsSync(e.EXECVE_LOG!), false);
});

test('reexecPlan: adds what is missing, keeps the operator\'s own flags and MALLOC_ARENA_MAX, nothing when all are there', () => {
  const argv = ['/usr/bin/node', '/app/dist/main.js', 'run'];
  assert.deepEqual(reexecPlan('/usr/bin/node', [], argv, { A: '1' }, 20), {
    args: ['/usr/bin/node', '--v8-pool-size=1', '--max-semi-space-size=1', '--no-expose-wasm', '--jitless', '/app/dist/main.js', 'run'],
    env: { A: '1', MALLOC_ARENA_MAX: '2' },
  });
  assert.deepEqual(reexecPlan('/usr/bin/node', ['--max-semi-space-size=4', '--import', 'x'], argv, { MALLOC_ARENA_MAX: '4' }, 24), {
    args: ['/usr/bin/node', '--v8-pool-size=1', '--jitless', '--max-semi-space-size=4', '--import', 'x', '/app/dist/main.js', 'run'],
    env: { MALLOC_ARENA_MAX: '4' },
  });
  assert.equal(reexecPlan('/usr/bin/node', lightFlags(22), argv, { MALLOC_ARENA_MAX: '2' }, 22), null);
  assert.deepEqual(lightFlags(22), ['--v8-pool-size=1', '--max-semi-space-size=1']);
});

/** The first stdout line of `cmd args` (a `run` or netmon start) whose msg matches `until`, and every line before it. */
async function linesUntil(name: string, cmd: string, args: string[], until: RegExp): Promise<string[]> {
  const child = spawn(cmd, args, { cwd: app, env: env(name), stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  const lines: string[] = [];
  let rest = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    const parts = (rest + c).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  try {
    await waitFor(`${name}: a line matching ${until}`, () => lines.some((l) => until.test(l)));
    return lines;
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const canReexec = typeof (process as unknown as { execve?: unknown }).execve === 'function';

test('a start without the light settings says so at once, naming what is missing; started with them, it does not', async () => {
  const light = /running without the light settings \(([^)]*)\)/;
  for (const [command, started] of [['run', /"agent started"/], ['netmon', /"netmon started"/]] as const) {
    const bare = await linesUntil(`warn-bare-${command}`, process.execPath, ['dist/main.js', command], canReexec ? started : light);
    const warned = bare.map((l) => light.exec(l)).find((m) => m !== null);
    if (canReexec) assert.equal(warned, undefined, `${command}: re-executed with the settings, yet warned`);
    else assert.deepEqual(warned?.[1]?.split(' '), [...lightFlags(major), 'MALLOC_ARENA_MAX=2'], `${command}: the warning names every missing setting`);
    const viaBin = await linesUntil(`warn-bin-${command}`, 'bin/orchestrator-agent', [command], started);
    assert.equal(viaBin.find((l) => light.test(l)), undefined, `${command} through the bin: no warning`);
  }
});
