// Preloaded into a measured process by bench/idle.bench.ts when BENCH_PROBE=1 (`node --import
// bench/mem-probe.mjs …`): on SIGUSR2 it writes what V8 and Node say about the process's memory to
// $MEM_PROBE_DIR/<pid>.json, once as it is and once after a full GC (how much of the heap is garbage V8
// simply has not collected); with MEM_PROBE_SNAPSHOT=1 also a heap snapshot ($MEM_PROBE_DIR/<pid>.heapsnapshot,
// read by bench/heap-summary.ts). Not part of the agent: only the benchmark loads it.
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

const dir = process.env.MEM_PROBE_DIR;
if (dir) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const snap = () => ({
    memoryUsage: process.memoryUsage(),
    heap: v8.getHeapStatistics(),
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.space_physical_size }])),
    code: v8.getHeapCodeStatistics(),
  });
  process.on('SIGUSR2', () => {
    const before = snap();
    gc();
    const after = snap();
    const resources = process.getActiveResourcesInfo().reduce((m, r) => ((m[r] = (m[r] ?? 0) + 1), m), {});
    if (process.env.MEM_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(path.join(dir, `${process.pid}.heapsnapshot`));
    fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ before, after, resources }));
  });
}
