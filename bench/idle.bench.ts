// Benchmark: idle cost of the agent and netmon (issue #12), measured like the yardstick: the built
// agent (`node dist/main.js run`) and netmon (`node dist/main.js netmon`) as processes, a private
// engine, the mTLS test cloud, a veth LAN, static vNICs, default heartbeat (5 s); 0 then 10 runtimes
// (the stand-in image) created through the cloud; once converged, each process (with its children)
// sampled each second for BENCH_WINDOW_S (60) s: VmRSS, RssAnon, CPU from utime+stime, disk writes
// (/proc/<pid>/io write_bytes). The engine (dockerd + containerd, and the runtimes' shims) over the
// same window, and again with the agent stopped (SIGSTOP) for the engine's own idle.
// Run as root, after `npm run build`:
//   flock /tmp/orch-docker-tests.lock node --import tsx bench/idle.bench.ts
// Env: BENCH_RUNTIMES="0,10", BENCH_WINDOW_S=60, BENCH_REPEAT=1, BENCH_NODE_FLAGS="" (extra node flags
// for both processes), BENCH_MAIN=dist/main.js, BENCH_NETMON_ARGS="" (overrides `<main> netmon`),
// BENCH_STOPPED_S=30 (engine window with the agent stopped; 0 skips it).
// BENCH_VARIANTS="|--max-semi-space-size=1|MALLOC_ARENA_MAX=2 netmon:--lite-mode": run the whole
// measurement once per variant (`|`-separated; each a list of node flags and NAME=value environment
// variables given to both processes, or to one with an `agent:`/`netmon:` prefix, added to
// BENCH_NODE_FLAGS; `main=/tmp/old/dist/main.js` runs another agent entry) on the same engine, in turn, BENCH_REPEAT
// rounds; between variants both processes stop and every labelled object is removed.
// Metrics on (issue #23): a variant with `agent:ORCH_METRICS_LISTEN=127.0.0.1:PORT` is scraped on /metrics
// by this process (outside the agent's tree) every BENCH_SCRAPE_S (15) s, from the agent's start to its
// stop; a variant whose scrapes all fail is an error. Off vs on on one engine, alternating:
//   BENCH_VARIANTS="|agent:ORCH_METRICS_LISTEN=127.0.0.1:19464" BENCH_REPEAT=2
// BENCH_PROBE=1: both processes preload bench/mem-probe.mjs; after each window the benchmark prints where
// their memory lives (/proc/<pid>/smaps groups, V8 heap spaces before/after a forced GC, external).
// BENCH_START=bin (default) starts both the way the README, the package's bin and the images do:
// `bin/orchestrator-agent run|netmon` (on Node 20 that script execs node with the light settings,
// src/light-settings.ts); node flags (BENCH_NODE_FLAGS, a variant's, the probe's) then go in NODE_OPTIONS,
// as an operator would add them. BENCH_START=main starts `node <main> run|netmon` (the issue's command; on
// Node 20 without the light settings, on 22.15+/24 re-executed with them). BENCH_NODE=/path/to/node: the
// node both run on (main: that binary; bin: its directory first in PATH); this process's node otherwise.
// After each window the benchmark prints what each measured process runs: its tree, /proc/<pid>/exe,
// cmdline and environ.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_IMAGE } from '../test/support/agent-fixture.js';
import { buildRuntimeStandIn } from '../test/support/images.js';
import { createLan, type Lan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { agentMtlsDir, makePki, TestCloud } from '../test/support/test-cloud.js';
import { waitFor } from '../test/support/wait.js';
import { allStats, machine, sampleWindow, treeOf, type Selector, type Window } from './proc-stats.js';
import { smapsBreakdown, threads } from './smaps.js';

const root = path.resolve(import.meta.dirname, '..');
const MAIN = path.resolve(root, process.env.BENCH_MAIN ?? 'dist/main.js');
const COUNTS = (process.env.BENCH_RUNTIMES ?? '0,10').split(',').map(Number);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 60);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const NETMON_ARGS = process.env.BENCH_NETMON_ARGS ? process.env.BENCH_NETMON_ARGS.split(' ') : [MAIN, 'netmon'];
const STOPPED_S = Number(process.env.BENCH_STOPPED_S ?? 30);
const PROBE = process.env.BENCH_PROBE === '1';
const SCRAPE_S = Number(process.env.BENCH_SCRAPE_S ?? 15);
const START = process.env.BENCH_START ?? 'bin';
if (START !== 'bin' && START !== 'main') throw new Error(`BENCH_START=${START}: bin or main`);
const BIN = path.join(root, 'bin/orchestrator-agent');
const NODE = process.env.BENCH_NODE ? path.resolve(process.env.BENCH_NODE) : process.execPath;
const loadAtStart = fs.readFileSync('/proc/loadavg', 'utf8').trim();

/** Scrapes http://HOST:PORT/metrics every SCRAPE_S s as Prometheus would (a new connection each time). */
function startScraper(listen: string): { stop(): { ok: number; failed: number } } {
  const i = listen.lastIndexOf(':');
  const n = { ok: 0, failed: 0 };
  const once = () =>
    http
      .get({ host: listen.slice(0, i), port: Number(listen.slice(i + 1)), path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => (res.statusCode === 200 && body.includes('orch_runtimes') ? n.ok++ : n.failed++));
      })
      .on('error', () => n.failed++);
  const timer = setInterval(once, SCRAPE_S * 1000);
  timer.unref();
  return { stop: () => (clearInterval(timer), n) };
}
interface Variant {
  label: string;
  main: string; // the agent's entry (token main=<path>; BENCH_MAIN otherwise)
  agent: { flags: string[]; env: Record<string, string> };
  netmon: { flags: string[]; env: Record<string, string> };
}
/** A token applies to both processes, or to one with an `agent:` or `netmon:` prefix. */
function variantFor(tokens: string[], who: 'agent' | 'netmon'): { flags: string[]; env: Record<string, string> } {
  const mine = tokens.flatMap((t) => (t.startsWith(`${who}:`) ? [t.slice(who.length + 1)] : /^(agent|netmon):/.test(t) ? [] : [t]));
  const isEnv = (t: string) => /^[A-Z_][A-Z0-9_]*=/.test(t);
  return { flags: mine.filter((t) => !isEnv(t)), env: Object.fromEntries(mine.filter(isEnv).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)])) };
}
const VARIANTS: Variant[] = (process.env.BENCH_VARIANTS ?? '').split('|').map((v) => {
  const all = v.split(' ').filter(Boolean);
  const main = all.find((t) => t.startsWith('main='));
  const tokens = all.filter((t) => t !== main);
  return { label: all.join(' ') || '(none)', main: main ? path.resolve(root, main.slice(5)) : MAIN, agent: variantFor(tokens, 'agent'), netmon: variantFor(tokens, 'netmon') };
});
if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} missing: run \`npm run build\` first`);
// bin/orchestrator-agent always runs the dist/main.js next to it
if (START === 'bin' && VARIANTS.some((v) => v.main !== path.join(root, 'dist/main.js'))) throw new Error('BENCH_MAIN or main=: only with BENCH_START=main');

function pickLan(): Lan {
  for (const s of ['198.51.100.0/26', '203.0.113.0/26', '198.51.100.64/26', '203.0.113.64/26']) {
    try {
      return createLan(s);
    } catch {
      /* in use: next */
    }
  }
  throw new Error('no free documentation subnet for the LAN');
}

const canConnect = (p: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(p);
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

/** Starts `<main> <command>` (or BENCH_NETMON_ARGS, always through node) the BENCH_START way. */
function spawnNode(v: Variant['agent'], args: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const flags = [...NODE_FLAGS, ...v.flags, ...(PROBE ? [`--import=${path.join(root, 'bench/mem-probe.mjs')}`] : [])];
  const probeEnv: Record<string, string> = PROBE ? { MEM_PROBE_DIR: dir } : {};
  const viaBin = START === 'bin' && args[0] === MAIN;
  const PATH = viaBin ? `${path.dirname(NODE)}:${process.env.PATH ?? ''}` : process.env.PATH ?? '';
  const nodeOptions: Record<string, string> = viaBin && flags.length ? { NODE_OPTIONS: flags.join(' ') } : {};
  const [cmd, argv] = viaBin ? [BIN, args.slice(1)] : [NODE, [...flags, ...args]];
  const c = spawn(cmd, argv, { env: { PATH, HOME: process.env.HOME ?? '/root', ...v.env, ...probeEnv, ...nodeOptions, ...env }, stdio: ['ignore', log, log], cwd: root });
  fs.closeSync(log);
  return c;
}

const nul = (pid: number, f: string) => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0').filter(Boolean);

/** What a measured process runs, as the kernel sees it (a re-exec or the bin's exec keep the pid). */
function whatRuns(label: string, pid: number): string {
  try {
    const procs = treeOf(pid)().map((s) => `${s.pid} ${s.comm}`).join(', ');
    return `${label}: tree [${procs}]; exe ${fs.realpathSync(`/proc/${pid}/exe`)}; cmdline \`${nul(pid, 'cmdline').join(' ')}\`; environ \`${nul(pid, 'environ').join(' ')}\``;
  } catch (e) {
    return `${label}: (${(e as Error).message})`;
  }
}

async function stopChild(c: ChildProcess | null): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGCONT');
  c.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000).then(() => c.kill('SIGKILL'))]);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-idle-'));
const engine = await startPrivateEngine();
const lan = pickLan();
const pki = makePki();
const cloud = new TestCloud(pki);
let agent: ChildProcess | null = null;
let netmon: ChildProcess | null = null;
const rows: { variant: string; n: number; run: number; w: Window[]; engineAlone: Window[] }[] = [];
const probes: string[] = [];
const running: string[] = [];
const mib = (kib: number) => (kib / 1024).toFixed(1);
const MiB = (b: number) => (b / 2 ** 20).toFixed(1);

/** Where the process's memory lives (bench/smaps.ts, and bench/mem-probe.mjs's V8 figures). */
async function probe(label: string, pid: number): Promise<string> {
  const lines = [`#### ${label} (pid ${pid}, ${threads(pid)} threads)`, '', '| smaps group | mappings | Rss MiB | Pss MiB | Anonymous MiB |', '|---|---|---|---|---|'];
  const groups = Object.entries(smapsBreakdown(pid)).filter(([, g]) => g.rssKiB > 0).sort((a, b) => b[1].rssKiB - a[1].rssKiB);
  for (const [name, g] of groups) lines.push(`| ${name} | ${g.count} | ${mib(g.rssKiB)} | ${mib(g.pssKiB)} | ${mib(g.anonKiB)} |`);
  const sum = (k: 'rssKiB' | 'pssKiB' | 'anonKiB') => groups.reduce((a, [, g]) => a + g[k], 0);
  lines.push(`| all | | ${mib(sum('rssKiB'))} | ${mib(sum('pssKiB'))} | ${mib(sum('anonKiB'))} |`);
  const file = path.join(dir, `${pid}.json`);
  fs.rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  try {
    await waitFor('probe output', () => fs.existsSync(file), 10_000, 100);
  } catch {
    return [...lines, '', '(no probe output)'].join('\n');
  }
  await sleep(200);
  type Snap = { memoryUsage: NodeJS.MemoryUsage; heap: { total_physical_size: number; malloced_memory: number; peak_malloced_memory: number }; spaces: Record<string, { size: number; used: number; physical: number }> };
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { before: Snap; after: Snap; resources: Record<string, number> };
  lines.push('', '| V8 space | size MiB | physical MiB | used MiB | used after full GC MiB |', '|---|---|---|---|---|');
  for (const [name, sp] of Object.entries(p.before.spaces)) {
    lines.push(`| ${name} | ${MiB(sp.size)} | ${MiB(sp.physical)} | ${MiB(sp.used)} | ${MiB(p.after.spaces[name]?.used ?? 0)} |`);
  }
  const mu = p.before.memoryUsage;
  lines.push('', `rss ${MiB(mu.rss)}, heapTotal ${MiB(mu.heapTotal)}, heapUsed ${MiB(mu.heapUsed)} (after GC ${MiB(p.after.memoryUsage.heapUsed)}), V8 physical ${MiB(p.before.heap.total_physical_size)}, external ${MiB(mu.external)} (arrayBuffers ${MiB(mu.arrayBuffers)}), V8 malloced ${MiB(p.before.heap.malloced_memory)} (peak ${MiB(p.before.heap.peak_malloced_memory)}); after GC rss ${MiB(p.after.memoryUsage.rss)}`);
  lines.push(`active resources: ${JSON.stringify(p.resources)}`);
  return lines.join('\n');
}

/** Stops both processes and removes every object the agent made, so that the next variant starts from nothing. */
async function teardown(): Promise<void> {
  await stopChild(agent);
  await stopChild(netmon);
  agent = netmon = null;
  await waitFor('agent disconnected', () => cloud.sockets().length === 0, 15_000, 100);
  const label = ['edge.autonomy.managed=true'];
  for (const c of await engine.docker.listContainers({ all: true, filters: { label } })) await engine.docker.getContainer(c.Id).remove({ force: true, v: true });
  for (const n of await engine.docker.listNetworks({ filters: { label } })) await engine.docker.getNetwork(n.Id).remove();
  for (const v of (await engine.docker.listVolumes({ filters: { label } })).Volumes ?? []) await engine.docker.getVolume(v.Name).remove();
}

try {
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  await cloud.start();
  const enginePid = Number(fs.readFileSync(path.join(engine.dir!, 'docker.pid'), 'utf8'));
  const daemons: Selector = () => treeOf(enginePid)().filter((s) => s.comm === 'dockerd' || s.comm === 'containerd');
  const shims: Selector = () =>
    allStats().filter((s) => {
      if (!s.comm.startsWith('containerd-shim')) return false;
      try {
        return fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes(engine.dir!);
      } catch {
        return false;
      }
    });
  const prefix = lan.subnet.split('.').slice(0, 3).join('.');
  const base = Number(lan.subnet.split('.')[3]!.split('/')[0]);
  // With several variants, the rounds alternate them (machine noise drifts; a variant is not always first).
  const rounds = VARIANTS.length > 1 ? REPEAT : 1;
  const windows = VARIANTS.length > 1 ? 1 : REPEAT;
  let seq = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const v of VARIANTS) {
      seq++;
      const vdir = path.join(dir, `v${seq}`);
      fs.mkdirSync(vdir);
      const netmonSock = path.join(vdir, 'netmon.sock');
      const nm = spawnNode(v.netmon, NETMON_ARGS, { ORCH_NETMON_SOCKET: netmonSock, ORCH_DATA_DIR: path.join(vdir, 'netmon') }, path.join(vdir, 'netmon.log'));
      netmon = nm;
      await waitFor('netmon socket', async () => {
        if (nm.exitCode !== null) throw new Error(`netmon exited: ${fs.readFileSync(path.join(vdir, 'netmon.log'), 'utf8').slice(-1000)}`);
        return fs.existsSync(netmonSock) && (await canConnect(netmonSock));
      }, 20_000);
      const dataDir = path.join(vdir, 'agent');
      fs.mkdirSync(dataDir);
      const ag = spawnNode(v.agent, [v.main, 'run'], {
        ORCH_DATA_DIR: dataDir,
        ORCH_CLOUD_URL: cloud.url,
        ORCH_MTLS_DIR: agentMtlsDir(pki, 'bench-agent'),
        DOCKER_HOST: engine.dockerHost,
        ORCH_RUNTIME_IMAGE: TEST_IMAGE,
        ORCH_NETMON_SOCKET: netmonSock,
      }, path.join(vdir, 'agent.log'));
      agent = ag;
      const listen = v.agent.env.ORCH_METRICS_LISTEN;
      const scraper = listen ? startScraper(listen) : null;
      await cloud.waitForAgent(30_000);
      const beats0 = cloud.received('heartbeat').length;

      let created = 0;
      for (const n of [...COUNTS].sort((a, b) => a - b)) {
        for (; created < n; created++) {
          const ack = await cloud.call('create_new_runtime', {
            correlation_id: 1000 + created,
            container_name: `idle-${created}`,
            vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: `${prefix}.${base + 10 + created}`, subnet: '255.255.255.192', gateway: `${prefix}.${base + 1}` }],
          });
          if (ack.status !== 'creating') throw new Error(`create idle-${created}: ${JSON.stringify(ack)}`);
        }
        await waitFor(`${n} runtimes running`, async () => {
          for (let i = 0; i < n; i++) {
            const s = await cloud.call('get_device_status', { device_id: `idle-${i}` });
            if (s.status !== 'success' || s.is_running !== true) return false;
          }
          return (await engine.docker.listContainers({ filters: { status: ['running'] } })).length === n;
        }, 300_000, 1000);
        await sleep(20_000); // past start-up work: first samples, first history flush, status writes
        for (let run = 1; run <= windows; run++) {
          const w = await sampleWindow([
            { label: 'agent', select: treeOf(ag.pid!), memory: true },
            { label: 'netmon', select: treeOf(nm.pid!), memory: true },
            { label: 'engine (dockerd+containerd)', select: daemons, memory: true },
            { label: 'shims', select: shims, memory: false },
          ], WINDOW_S);
          running.push(`${v.label}, ${n} runtimes, window ${run}:`, `  ${whatRuns('agent', ag.pid!)}`, `  ${whatRuns('netmon', nm.pid!)}`);
          if (PROBE) probes.push(`### ${v.label}, ${n} runtimes, round ${round}, window ${run}`, '', await probe('agent', ag.pid!), '', await probe('netmon', nm.pid!), '');
          let engineAlone: Window[] = [];
          if (STOPPED_S > 0) {
            ag.kill('SIGSTOP');
            engineAlone = await sampleWindow([
              { label: 'engine, agent stopped', select: daemons, memory: false },
              { label: 'shims, agent stopped', select: shims, memory: false },
            ], Math.min(STOPPED_S, WINDOW_S));
            ag.kill('SIGCONT');
          }
          rows.push({ variant: v.label, n, run: VARIANTS.length > 1 ? round : run, w, engineAlone });
          await sleep(5000); // the agent catches up after SIGCONT
        }
      }
      if (cloud.received('heartbeat').length - beats0 < 2) throw new Error('no heartbeats reached the cloud: the agent was not connected');
      if (scraper) {
        const n = scraper.stop();
        if (n.ok === 0) throw new Error(`${v.label}: no scrape of ${listen} succeeded (${n.failed} failed)`);
        console.error(`${v.label}: ${n.ok} scrapes ok, ${n.failed} failed`);
      }
      await teardown();
    }
  }
} finally {
  await stopChild(agent);
  await stopChild(netmon);
  await cloud.stop().catch(() => undefined);
  lan.remove();
  await engine.stop();
  pki.remove();
  if (process.env.BENCH_KEEP_LOGS) console.log(`logs kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

const f = (x: number, d = 1) => x.toFixed(d);
console.log(`machine: ${machine()}`);
console.log(`date: ${new Date().toISOString()}  start: ${START}  node: ${NODE}  main: ${path.relative(root, MAIN)}  netmon: ${NETMON_ARGS.map((a) => path.relative(root, a)).join(' ')}  node flags: ${NODE_FLAGS.join(' ') || '(none)'} (+ variant)  window: ${WINDOW_S} s  loadavg at start: ${loadAtStart}, at end: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.log('');
console.log(running.join('\n'));
console.log('');
console.log('| variant | runtimes | run | agent CPU % | netmon CPU % | agent VmRSS avg/max MiB | netmon VmRSS avg/max MiB | agent RssAnon avg MiB | netmon RssAnon avg MiB | written agent+netmon (KiB/window → MB/h) | engine CPU % (agent running) | engine CPU % (agent stopped) | shims CPU % running/stopped |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const [a, nm, e, sh] = r.w as [Window, Window, Window, Window];
  const [ea, sha] = r.engineAlone as [Window?, Window?];
  const written = a.writtenBytes + nm.writtenBytes;
  const stopped = (x?: Window) => (x ? f(x.cpuPct, 2) : '–');
  console.log(
    `| ${r.variant} | ${r.n} | ${r.run} | ${f(a.cpuPct, 2)} | ${f(nm.cpuPct, 2)} | ${f(a.rssAvgMiB)}/${f(a.rssMaxMiB)} | ${f(nm.rssAvgMiB)}/${f(nm.rssMaxMiB)} | ${f(a.anonAvgMiB)} | ${f(nm.anonAvgMiB)} | ${f(written / 1024)} → ${f((written / a.seconds) * 3600 / 1e6, 2)} | ${f(e.cpuPct, 2)} | ${stopped(ea)} | ${f(sh.cpuPct, 2)}/${stopped(sha)} |`,
  );
}
console.log('');
for (const r of rows) {
  const [a, nm] = r.w as [Window, Window];
  console.log(`${r.variant || '(none)'}, ${r.n} runtimes, run ${r.run}: VmRSS maximum of the agent at ${a.rssMaxAt?.toISOString() ?? '–'}, of netmon at ${nm.rssMaxAt?.toISOString() ?? '–'}`);
}
if (probes.length) console.log(['', '## Memory probe', '', ...probes].join('\n'));
