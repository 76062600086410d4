// Benchmark: CPU of one usage sample of N runtimes from their cgroup v1 files (what the agent does every
// heartbeat, src/telemetry/container-stats.ts), on copies of this host's memory.stat in a temp tree (no
// engine). 20 warm-up rounds, then 200 measured; prints CPU per heartbeat and as % of a core at 5 s.
//   node [--jitless] --import tsx bench/cgroup-sample.bench.ts [N=50]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContainerSampler } from '../src/telemetry/container-stats.js';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cg-'));
const stat = fs.readFileSync('/sys/fs/cgroup/memory/memory.stat', 'utf8');
const N = Number(process.argv[2] ?? 50);
const s = new ContainerSampler({} as never, root, '/nonexistent');
const known = (s as unknown as { known: Map<string, unknown> }).known;
for (let i = 0; i < N; i++) {
  const id = `c${i}`;
  for (const [sub, files] of [['cpuacct', { 'cpuacct.usage': '123456789\n' }], ['memory', { 'memory.usage_in_bytes': '1234567\n', 'memory.stat': stat }]] as const) {
    const d = path.join(root, sub, 'docker', id); fs.mkdirSync(d, { recursive: true });
    for (const [f, t] of Object.entries(files)) fs.writeFileSync(path.join(d, f), t);
  }
  known.set(`r${i}`, { id, files: { v: 1, cpuacct: path.join(root, 'cpuacct/docker', id), memory: path.join(root, 'memory/docker', id) }, prev: null, apiAt: 0, apiPrev: null });
}
const ticks = 200;
for (let w = 0; w < 20; w++) await Promise.all(Array.from({ length: N }, (_, i) => s.sample(`r${i}`)));
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let k = 0; k < ticks; k++) await Promise.all(Array.from({ length: N }, (_, i) => s.sample(`r${i}`)));
const c = process.cpuUsage(c0); const el = performance.now() - t0;
console.log(`${N} runtimes: ${((c.user + c.system) / 1000 / ticks).toFixed(2)} ms CPU per tick (wall ${(el / ticks).toFixed(2)} ms) → ${(((c.user + c.system) / 1000 / ticks) / 5000 * 100).toFixed(3)} % of a core at one tick per 5 s`);
fs.rmSync(root, { recursive: true, force: true });
