// Benchmark: memory of the usage history (CONTRACT §5.5: 48 h kept) once full: the host series and N
// runtime series fed a 5 s heartbeat for 48 h of sample time (no waiting: timestamps are made up), then
// the heap and array buffers it holds after a full GC. Issue #12's "no growth over an idle hour".
//   node --expose-gc --import tsx bench/history-memory.bench.ts [N ...]   (default 10 50; each N in its own process)
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { isDeviceKey } from '../src/telemetry/telemetry.js';
import { UsageHistory } from '../src/telemetry/usage-history.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
// Array buffers are freed by a concurrent sweeper: give it time, then collect again.
const held = async () => {
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 0);
if (process.env.HISTORY_BENCH_CHILD !== '1') {
  console.log(`history-memory, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`);
  console.log('| runtimes | samples per series fed (48 h at 5 s) | held after 48 h, MiB |');
  console.log('|---|---|---|');
  for (const n of sizes.length ? sizes : [10, 50]) {
    process.stdout.write(execFileSync(process.execPath, [...process.execArgv, import.meta.filename, String(n)], { env: { ...process.env, HISTORY_BENCH_CHILD: '1' }, encoding: 'utf8' }));
  }
} else {
  const n = sizes[0]!;
  const before = await held();
  const h = new UsageHistory('/nonexistent/usage-history.ndjson', { thinned: isDeviceKey });
  const t0 = 1_800_000_000;
  let fed = 0;
  for (let t = t0; t <= t0 + 48 * 3600; t += 5, fed++) {
    h.add('agent', [t, 5, 4000]);
    for (let i = 0; i < n; i++) h.add(`device/r${i}`, [t, 3, 30]);
    if (fed % 12 === 11) (h as unknown as { pending: Map<string, unknown> }).pending = new Map(); // what a flush a minute does
  }
  (h as unknown as { pending: Map<string, unknown> }).pending = new Map();
  console.log(`| ${n} | ${fed} | ${(((await held()) - before) / 2 ** 20).toFixed(2)} |`);
}
