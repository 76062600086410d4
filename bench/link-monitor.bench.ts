// CPU of netmon's LinkMonitor (src/netmon/link-monitor.ts): the /sys/class/net entries, /proc/net/route
// and /proc/net/fib_trie, as netmon reads them. Two figures: a tight loop of looks (caches warm), and
// the real cadence, where caches are cold: CPU per second of this process over `seconds` with only a
// 1 s no-op timer, then over `seconds` looking once a second; the difference is a look's cost.
// BENCH_NS_RUNTIMES=N: the same in a network namespace made like a host with N runtimes (a bridge with
// an address and a veth pair each, one uplink with a default route), removed afterwards.
// As root: `[BENCH_NS_RUNTIMES=50] node --jitless --import tsx bench/link-monitor.bench.ts [looks=2000] [seconds=60]`
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { LinkMonitor } from '../src/netmon/link-monitor.js';

const looks = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 60);
const nsRuntimes = Number(process.env.BENCH_NS_RUNTIMES ?? 0);

if (nsRuntimes > 0) {
  const ns = `orch-lmbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const batch = ['link add up0 type veth peer name up1', 'link set up1 up', 'link set up0 up', 'addr add 192.0.2.5/24 dev up0', 'route add default via 192.0.2.1'];
    for (let i = 1; i <= nsRuntimes; i++) {
      batch.push(`link add veth${i} type veth peer name vethp${i}`, `link add br-${i} type bridge`, `addr add 10.${i}.0.1/16 dev br-${i}`, `link set br-${i} up`);
    }
    execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${batch.join('\n')}\n` });
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, process.argv[1]!, String(looks), String(seconds)], { stdio: 'inherit', env: { ...process.env, BENCH_NS_RUNTIMES: '0' } });
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  const monitor = new LinkMonitor(() => undefined);
  monitor.look(false);
  for (let i = 0; i < 100; i++) monitor.look(); // warm-up
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < looks; i++) monitor.look();
  const cpu = process.cpuUsage(cpu0);
  const tight = (cpu.user + cpu.system) / looks / 1000;
  const perSecond = async (look: boolean) => {
    const timer = setInterval(() => (look ? monitor.look() : undefined), 1000);
    const c0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const c = process.cpuUsage(c0);
    clearInterval(timer);
    return (c.user + c.system) / seconds / 1000;
  };
  const idle = seconds > 0 ? await perSecond(false) : NaN;
  const looking = seconds > 0 ? await perSecond(true) : NaN;
  const links = fs.readdirSync('/sys/class/net').length;
  const routes = fs.readFileSync('/proc/net/route', 'utf8').split('\n').length - 2;
  const trie = fs.readFileSync('/proc/net/fib_trie', 'utf8').length;
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, flags: ${process.execArgv.join(' ') || '(none)'}`);
  console.log(`here: ${links} links in /sys/class/net, ${routes} routes, fib_trie ${trie} bytes`);
  console.log('| tight loop: ms per look | cadence: ms CPU/s, 1 s timer only | ms CPU/s, a look a second | a look at cadence, ms | % of a core, a look every 2 s |');
  console.log('|---|---|---|---|---|');
  const cold = looking - idle;
  console.log(`| ${tight.toFixed(3)} | ${idle.toFixed(3)} | ${looking.toFixed(3)} | ${cold.toFixed(3)} | ${(cold / 20).toFixed(3)} |`);
}
