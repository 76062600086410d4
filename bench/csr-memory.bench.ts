// What loading the CSR builder at renewal time adds to a process (RSS and heap after a GC), against a
// process that loads nothing: `node --expose-gc --import tsx bench/csr-memory.bench.ts` (it re-runs itself
// per case, 5 times each, and prints the medians).
import { execFileSync } from 'node:child_process';

const ROUNDS = 5;
const what = process.argv[2];
if (what) {
  globalThis.gc?.();
  const b = process.memoryUsage();
  if (what === 'csr') {
    const { buildCsr } = await import('../src/sources/cloud/csr.js');
    const crypto = await import('node:crypto');
    buildCsr('bench', crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
  }
  globalThis.gc?.();
  const a = process.memoryUsage();
  console.log(JSON.stringify({ rss: a.rss - b.rss, heap: a.heapUsed - b.heapUsed }));
} else {
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  for (const c of ['none', 'csr']) {
    const runs = Array.from({ length: ROUNDS }, () => JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, c], { encoding: 'utf8' })) as { rss: number; heap: number });
    const mib = (n: number) => (n / 1048576).toFixed(1);
    console.log(`${c}: RSS +${mib(median(runs.map((r) => r.rss)))} MiB, heap +${mib(median(runs.map((r) => r.heap)))} MiB (median of ${ROUNDS})`);
  }
}
