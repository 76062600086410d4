// CPU of one look of netmon's LinkMonitor (src/netmon/link-monitor.ts) at this host's files: the
// /sys/class/net entries, /proc/net/route and /proc/net/fib_trie, as netmon reads them every 2 s. A tight
// loop keeps the caches warm: at netmon's real cadence a look costs several times more (docs/performance.md).
// `node --jitless --import tsx bench/link-monitor.bench.ts [looks=2000]` (--jitless as the images run it).
import os from 'node:os';
import fs from 'node:fs';
import { LinkMonitor } from '../src/netmon/link-monitor.js';

const looks = Number(process.argv[2] ?? 2000);
const monitor = new LinkMonitor(() => undefined);
monitor.look(false);
for (let i = 0; i < 100; i++) monitor.look(); // warm-up
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < looks; i++) monitor.look();
const wall = Number(process.hrtime.bigint() - t0) / 1e6;
const cpu = process.cpuUsage(cpu0);
const perLook = (cpu.user + cpu.system) / looks;
const links = fs.readdirSync('/sys/class/net').length;
const routes = fs.readFileSync('/proc/net/route', 'utf8').split('\n').length - 2;
const trie = fs.readFileSync('/proc/net/fib_trie', 'utf8').length;
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, flags: ${process.execArgv.join(' ') || '(none)'}`);
console.log(`this host: ${links} links in /sys/class/net, ${routes} routes, fib_trie ${trie} bytes`);
console.log('| looks | CPU µs per look (user+sys) | wall µs per look | CPU % of one core at one look every 2 s |');
console.log('|---|---|---|---|');
console.log(`| ${looks} | ${perLook.toFixed(1)} | ${((wall * 1000) / looks).toFixed(1)} | ${(perLook / 2e4).toFixed(3)} |`);
