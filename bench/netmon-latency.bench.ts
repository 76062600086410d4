// From a kernel change to netmon's `network_change`: netmon (`node <the images' flags> <main> netmon`)
// alone in a private network namespace with a veth pair (lt0/lt1, up); an address is added to lt0, and
// the time from `ip addr add` returning to the event that shows it is taken; then it is removed (not
// timed). A random pause before each run samples every phase of netmon's once-a-second look. As root,
// after `npm run build`:
//   node --import tsx bench/netmon-latency.bench.ts [runs=10] [debounceMs=3000] [main=dist/main.js ...]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [runsArg, debounceArg, ...mainArgs] = process.argv.slice(2);
const runs = Number(runsArg ?? 10);
const debounce = String(debounceArg ?? 3000);
const mains = mainArgs.length > 0 ? mainArgs : ['dist/main.js'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

interface Change { type: string; interface?: string; ipv4_addresses?: { address: string }[] }

async function measure(main: string): Promise<number[]> {
  const ns = `orch-nmlat-${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-nmlat-'));
  const sock = path.join(dir, 'n.sock');
  ip('netns', 'add', ns);
  const netmon = spawn('ip', ['netns', 'exec', ns, 'env', `ORCH_DATA_DIR=${dir}`, `ORCH_NETMON_SOCKET=${sock}`, `ORCH_NETMON_DEBOUNCE_MS=${debounce}`, 'MALLOC_ARENA_MAX=2',
    process.execPath, '--v8-pool-size=1', '--no-expose-wasm', '--jitless', path.resolve(main), 'netmon'], { stdio: 'ignore' });
  try {
    ip('-n', ns, 'link', 'add', 'lt0', 'type', 'veth', 'peer', 'name', 'lt1');
    ip('-n', ns, 'link', 'set', 'lt0', 'up');
    ip('-n', ns, 'link', 'set', 'lt1', 'up');
    for (let i = 0; !fs.existsSync(sock); i++) {
      if (i > 100) throw new Error(`${main}: netmon did not open its socket`);
      await sleep(100);
    }
    const client = net.connect(sock);
    let buf = '';
    let waiting: ((c: Change) => void) | null = null;
    client.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        waiting?.(JSON.parse(line) as Change);
      }
    });
    const until = (pred: (c: Change) => boolean) => new Promise<void>((resolve) => (waiting = (c) => pred(c) && resolve()));
    await sleep(2000);
    const took: number[] = [];
    for (let i = 0; i < runs; i++) {
      await sleep(Math.random() * 1000);
      const address = `198.51.100.${10 + i}`;
      const shown = until((c) => c.type === 'network_change' && c.interface === 'lt0' && (c.ipv4_addresses ?? []).some((a) => a.address === address));
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'lt0');
      const t0 = performance.now();
      await shown;
      took.push(performance.now() - t0);
      const gone = until((c) => c.type === 'network_change' && c.interface === 'lt0' && !(c.ipv4_addresses ?? []).some((a) => a.address === address));
      ip('-n', ns, 'addr', 'del', `${address}/24`, 'dev', 'lt0');
      await gone;
    }
    client.destroy();
    return took;
  } finally {
    netmon.kill();
    await sleep(200);
    ip('netns', 'del', ns);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; netmon debounce ${debounce} ms, ${runs} runs each`);
console.log('| main | median ms | best ms | worst ms |');
console.log('|---|---|---|---|');
for (const main of mains) {
  const t = (await measure(main)).sort((a, b) => a - b);
  console.log(`| ${main} | ${t[Math.floor(t.length / 2)]!.toFixed(0)} | ${t[0]!.toFixed(0)} | ${t[t.length - 1]!.toFixed(0)} |`);
}
