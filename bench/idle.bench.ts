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
// for both processes), BENCH_MAIN=dist/main.js, BENCH_NETMON_ARGS="" (overrides `<main> netmon`).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
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

const root = path.resolve(import.meta.dirname, '..');
const MAIN = path.resolve(root, process.env.BENCH_MAIN ?? 'dist/main.js');
const COUNTS = (process.env.BENCH_RUNTIMES ?? '0,10').split(',').map(Number);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 60);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const NETMON_ARGS = process.env.BENCH_NETMON_ARGS ? process.env.BENCH_NETMON_ARGS.split(' ') : [MAIN, 'netmon'];
if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} missing: run \`npm run build\` first`);

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

function spawnNode(args: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const c = spawn(process.execPath, [...NODE_FLAGS, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', log, log], cwd: root });
  fs.closeSync(log);
  return c;
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
const rows: { n: number; run: number; w: Window[]; engineAlone: Window[] }[] = [];
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

  const netmonSock = path.join(dir, 'netmon.sock');
  netmon = spawnNode(NETMON_ARGS, { ORCH_NETMON_SOCKET: netmonSock, ORCH_DATA_DIR: path.join(dir, 'netmon') }, path.join(dir, 'netmon.log'));
  await waitFor('netmon socket', async () => {
    if (netmon?.exitCode !== null) throw new Error(`netmon exited: ${fs.readFileSync(path.join(dir, 'netmon.log'), 'utf8').slice(-1000)}`);
    return fs.existsSync(netmonSock) && (await canConnect(netmonSock));
  }, 20_000);

  const dataDir = path.join(dir, 'agent');
  fs.mkdirSync(dataDir);
  agent = spawnNode([MAIN, 'run'], {
    ORCH_DATA_DIR: dataDir,
    ORCH_CLOUD_URL: cloud.url,
    ORCH_MTLS_DIR: agentMtlsDir(pki, 'bench-agent'),
    DOCKER_HOST: engine.dockerHost,
    ORCH_RUNTIME_IMAGE: TEST_IMAGE,
    ORCH_NETMON_SOCKET: netmonSock,
  }, path.join(dir, 'agent.log'));
  await cloud.waitForAgent(30_000);

  const prefix = lan.subnet.split('.').slice(0, 3).join('.');
  const base = Number(lan.subnet.split('.')[3]!.split('/')[0]);
  let created = 0;
  for (const n of COUNTS.sort((a, b) => a - b)) {
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
    for (let run = 1; run <= REPEAT; run++) {
      const w = await sampleWindow([
        { label: 'agent', select: treeOf(agent.pid!), memory: true },
        { label: 'netmon', select: treeOf(netmon.pid!), memory: true },
        { label: 'engine (dockerd+containerd)', select: daemons, memory: true },
        { label: 'shims', select: shims, memory: false },
      ], WINDOW_S);
      agent.kill('SIGSTOP');
      const engineAlone = await sampleWindow([
        { label: 'engine, agent stopped', select: daemons, memory: false },
        { label: 'shims, agent stopped', select: shims, memory: false },
      ], Math.min(30, WINDOW_S));
      agent.kill('SIGCONT');
      rows.push({ n, run, w, engineAlone });
      await sleep(5000); // the agent catches up after SIGCONT
    }
  }
  const beats = cloud.received('heartbeat');
  if (beats.length < 2) throw new Error('no heartbeats reached the cloud: the agent was not connected');
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
console.log(`date: ${new Date().toISOString()}  main: ${path.relative(root, MAIN)}  node flags: ${NODE_FLAGS.join(' ') || '(none)'}  window: ${WINDOW_S} s`);
console.log('');
console.log('| runtimes | run | agent CPU % | netmon CPU % | agent VmRSS avg/max MiB | netmon VmRSS avg/max MiB | agent RssAnon avg MiB | netmon RssAnon avg MiB | written agent+netmon (KiB/window → MB/h) | engine CPU % (agent running) | engine CPU % (agent stopped) | shims CPU % running/stopped |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const [a, nm, e, sh] = r.w as [Window, Window, Window, Window];
  const [ea, sha] = r.engineAlone as [Window, Window];
  const written = a.writtenBytes + nm.writtenBytes;
  console.log(
    `| ${r.n} | ${r.run} | ${f(a.cpuPct, 2)} | ${f(nm.cpuPct, 2)} | ${f(a.rssAvgMiB)}/${f(a.rssMaxMiB)} | ${f(nm.rssAvgMiB)}/${f(nm.rssMaxMiB)} | ${f(a.anonAvgMiB)} | ${f(nm.anonAvgMiB)} | ${f(written / 1024)} → ${f((written / a.seconds) * 3600 / 1e6, 2)} | ${f(e.cpuPct, 2)} | ${f(ea.cpuPct, 2)} | ${f(sh.cpuPct, 2)}/${f(sha.cpuPct, 2)} |`,
  );
}
