// VmRSS of the agent and netmon per way of starting them (issue #24: the light settings hold however they
// are started, src/light-settings.ts). No engine, cloud off, a fresh data dir each; one path at a time:
// start, settle, then bench/proc-stats.ts's window (the process with its descendants; for `npm start`
// npm's own node and sh are in the tree, the agent's node is also given alone). bench/mem-probe.mjs is
// preloaded (NODE_OPTIONS, so every path and a re-executed process keep it) to read V8's new space: 2 MiB
// with --max-semi-space-size=1 at start, 32 MiB without.
//   npm run build && [BENCH_NODES="/path/to/node24 …"] node --import tsx bench/start-paths.bench.ts [settle_s=10] [window_s=10]
// BENCH_NODES: other node binaries, each run as a plain `<node> dist/main.js run|netmon` (the re-exec where
// it has process.execve) and with the flags given by hand, to compare.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { machine, sampleWindow, tree, treeOf } from './proc-stats.js';

const root = path.resolve(import.meta.dirname, '..');
const [settleS = 10, windowS = 10] = process.argv.slice(2).map(Number);
const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-start-paths-'));
const { MALLOC_ARENA_MAX: _, ...baseEnv } = process.env;

interface Path { label: string; cmd: string; args: string[]; env?: Record<string, string> }
const paths: Path[] = [];
for (const c of ['run', 'netmon']) {
  paths.push({ label: `node dist/main.js ${c}`, cmd: 'node', args: ['dist/main.js', c] });
  paths.push({ label: `bin/orchestrator-agent ${c}`, cmd: 'bin/orchestrator-agent', args: [c] });
}
paths.push({ label: 'npm start', cmd: 'npm', args: ['start'] });
for (const n of (process.env.BENCH_NODES ?? '').split(/\s+/).filter(Boolean)) {
  const v = (await run(n, ['--version'])).trim();
  const major = Number(v.slice(1).split('.')[0]);
  const flags = major >= 24 ? ['--v8-pool-size=1', '--max-semi-space-size=1', '--jitless'] : ['--v8-pool-size=1', '--max-semi-space-size=1'];
  for (const c of ['run', 'netmon']) {
    paths.push({ label: `node ${v} dist/main.js ${c}`, cmd: n, args: ['dist/main.js', c] });
    paths.push({ label: `node ${v} ${flags.join(' ')} dist/main.js ${c}, MALLOC_ARENA_MAX=2`, cmd: n, args: [...flags, 'dist/main.js', c], env: { MALLOC_ARENA_MAX: '2' } });
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject).on('close', () => resolve(out));
  });
}

const nul = (pid: number, f: string) => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0').filter(Boolean);

console.log(`# ${machine()}; settle ${settleS} s, window ${windowS} s`);
console.log('| start path | process tree VmRSS avg MiB | RssAnon avg MiB | the agent\'s node alone VmRSS / RssAnon | V8 new space MiB | its cmdline | MALLOC_ARENA_MAX |');
console.log('|---|---|---|---|---|---|---|');
for (const [i, p] of paths.entries()) {
  const dataDir = path.join(probeDir, `data-${i}`);
  fs.mkdirSync(dataDir); // netmon exits without it
  const env = { ...baseEnv, ...p.env, ORCH_DATA_DIR: dataDir, ORCH_CLOUD_URL: 'off', DOCKER_HOST: `unix://${probeDir}/no-engine.sock`, MEM_PROBE_DIR: probeDir, NODE_OPTIONS: `--import=${path.join(root, 'bench/mem-probe.mjs')}` };
  const child = spawn(p.cmd, p.args, { cwd: root, env, stdio: 'ignore', detached: true });
  try {
    await sleep(settleS * 1000);
    const node = tree(child.pid!).filter((s) => nul(s.pid, 'cmdline').some((a) => a.endsWith('dist/main.js'))).at(-1);
    if (!node) throw new Error(`${p.label}: no node running dist/main.js`);
    const [all, alone] = await sampleWindow([{ label: 'tree', select: treeOf(child.pid!), memory: true }, { label: 'node', select: () => tree(node.pid).slice(0, 1), memory: true }], windowS);
    process.kill(node.pid, 'SIGUSR2');
    const probe = path.join(probeDir, `${node.pid}.json`);
    for (let k = 0; k < 50 && !fs.existsSync(probe); k++) await sleep(100);
    const spaces = fs.existsSync(probe) ? (JSON.parse(fs.readFileSync(probe, 'utf8')) as { before: { spaces: Record<string, { size: number }> } }).before.spaces : {};
    const newSpace = spaces.new_space ? (spaces.new_space.size / 2 ** 20).toFixed(1) : '?';
    const cmdline = nul(node.pid, 'cmdline').map((a) => (a.startsWith('/') ? path.basename(a) : a)).join(' ');
    const arena = nul(node.pid, 'environ').find((e) => e.startsWith('MALLOC_ARENA_MAX=')) ?? 'unset';
    console.log(`| \`${p.label}\` | ${all!.rssAvgMiB.toFixed(1)} | ${all!.anonAvgMiB.toFixed(1)} | ${alone!.rssAvgMiB.toFixed(1)} / ${alone!.anonAvgMiB.toFixed(1)} | ${newSpace} | \`${cmdline}\` | ${arena} |`);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    await sleep(500);
  }
}
fs.rmSync(probeDir, { recursive: true, force: true });
