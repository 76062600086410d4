// Benchmark: CPU of the per-heartbeat usage sample of N runtimes from their cgroup v1 files
// (src/telemetry/container-stats.ts), no engine needed:
// 1. the sampler itself on a temp tree holding copies of this host's memory.stat;
// 2. the reads alone, a runtime's three files read as the sampler once did (fs.promises.readFile, in
//    parallel) and as it does now (readFileSync): on the temp tree, and on the real cgroup directories of
//    the containers running here (/sys/fs/cgroup/{cpuacct,memory}/docker/<id>), if there are any.
// 20 warm-up rounds, then 200 measured; CPU = process.cpuUsage() (user + system).
//   node [--jitless] --import tsx bench/cgroup-sample.bench.ts [N=50]
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerSampler } from '../src/telemetry/container-stats.js';

const N = Number(process.argv[2] ?? 50);
const ROUNDS = 200;
const V1 = '/sys/fs/cgroup';
const files = (cpuacct: string, memory: string) => [path.join(cpuacct, 'cpuacct.usage'), path.join(memory, 'memory.usage_in_bytes'), path.join(memory, 'memory.stat')];

/** CPU milliseconds per round of `round()`, after 20 unmeasured ones. */
async function cpuPerRound(round: () => Promise<unknown>): Promise<number> {
  for (let w = 0; w < 20; w++) await round();
  const c0 = process.cpuUsage();
  for (let k = 0; k < ROUNDS; k++) await round();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / ROUNDS;
}

const readsAsync = (dirs: string[][]) => () => Promise.all(dirs.map((fs3) => Promise.all(fs3.map((f) => fsp.readFile(f, 'utf8')))));
const readsSync = (dirs: string[][]) => () => Promise.resolve(dirs.map((fs3) => fs3.map((f) => fs.readFileSync(f, 'utf8'))));
const pct = (ms: number) => ((ms / 5000) * 100).toFixed(3);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cg-'));
try {
  const stat = fs.readFileSync(path.join(V1, 'memory/memory.stat'), 'utf8');
  const sampler = new ContainerSampler({} as never, root, '/nonexistent');
  const known = (sampler as unknown as { known: Map<string, unknown> }).known;
  const tmpDirs: string[][] = [];
  for (let i = 0; i < N; i++) {
    const cpuacct = path.join(root, 'cpuacct/docker', `c${i}`);
    const memory = path.join(root, 'memory/docker', `c${i}`);
    fs.mkdirSync(cpuacct, { recursive: true });
    fs.mkdirSync(memory, { recursive: true });
    fs.writeFileSync(path.join(cpuacct, 'cpuacct.usage'), '123456789\n');
    fs.writeFileSync(path.join(memory, 'memory.usage_in_bytes'), '1234567\n');
    fs.writeFileSync(path.join(memory, 'memory.stat'), stat);
    known.set(`r${i}`, { id: `c${i}`, files: { v: 1, cpuacct, memory }, prev: null, apiAt: 0, apiPrev: null });
    tmpDirs.push(files(cpuacct, memory));
  }
  console.log(`cgroup-sample, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version} ${process.execArgv.join(' ')}`);
  console.log('| what | containers | CPU ms per heartbeat | % of a core at 5 s |');
  console.log('|---|---|---|---|');
  const row = (what: string, n: number, ms: number) => console.log(`| ${what} | ${n} | ${ms.toFixed(2)} | ${pct(ms)} |`);
  row('the sampler (temp tree)', N, await cpuPerRound(() => Promise.all(Array.from({ length: N }, (_, i) => sampler.sample(`r${i}`)))));
  row('three reads each, fs.promises.readFile (temp tree)', N, await cpuPerRound(readsAsync(tmpDirs)));
  row('three reads each, readFileSync (temp tree)', N, await cpuPerRound(readsSync(tmpDirs)));
  const ids = fs.existsSync(path.join(V1, 'memory/docker')) ? fs.readdirSync(path.join(V1, 'memory/docker')).filter((d) => /^[0-9a-f]{64}$/.test(d)) : [];
  if (ids.length > 0) {
    const real = ids.map((id) => files(path.join(V1, 'cpuacct/docker', id), path.join(V1, 'memory/docker', id)));
    row('three reads each, fs.promises.readFile (real cgroup v1 files)', ids.length, await cpuPerRound(readsAsync(real)));
    row('three reads each, readFileSync (real cgroup v1 files)', ids.length, await cpuPerRound(readsSync(real)));
  } else {
    console.log('(no container cgroups under /sys/fs/cgroup/memory/docker: start some to measure the real files)');
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
