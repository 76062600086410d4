// How much of a running node process's memory is garbage V8 has not collected yet: opens the process's
// inspector (SIGUSR1, 127.0.0.1:9229; nothing else may hold that port), reads process.memoryUsage(),
// forces a full GC, reads again, then closes the inspector. For the idle benchmarks (docs/performance.md):
//   node bench/gc-probe.mjs <pid>
import WebSocket from 'ws';
import fs from 'node:fs';
const pid = Number(process.argv[2]);
const status = () => { const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8'); return `VmRSS ${(s.match(/VmRSS:\s+(\d+)/)[1] / 1024).toFixed(1)} RssAnon ${(s.match(/RssAnon:\s+(\d+)/)[1] / 1024).toFixed(1)}`; };
process.kill(pid, 'SIGUSR1');
await new Promise((r) => setTimeout(r, 1000));
const list = await (await fetch('http://127.0.0.1:9229/json/list')).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl);
await new Promise((r) => ws.once('open', r));
let id = 0;
const call = (method, params = {}) => new Promise((resolve) => { const my = ++id; ws.on('message', function h(d) { const m = JSON.parse(d); if (m.id === my) { ws.off('message', h); resolve(m.result); } }); ws.send(JSON.stringify({ id: my, method, params })); });
const mu = async () => { const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }); const m = JSON.parse(r.result.value); return `heapUsed ${(m.heapUsed / 2 ** 20).toFixed(1)} heapTotal ${(m.heapTotal / 2 ** 20).toFixed(1)} external ${(m.external / 2 ** 20).toFixed(1)} rss ${(m.rss / 2 ** 20).toFixed(1)}`; };
console.log('before:', await mu(), '|', status());
await call('HeapProfiler.enable');
await call('HeapProfiler.collectGarbage');
await new Promise((r) => setTimeout(r, 500));
console.log('after GC:', await mu(), '|', status());
ws.send(JSON.stringify({ id: 999, method: 'Runtime.evaluate', params: { expression: 'setTimeout(() => process._debugEnd(), 100), 1' } }));
await new Promise((r) => setTimeout(r, 300));
ws.close();
