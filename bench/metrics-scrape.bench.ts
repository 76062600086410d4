// Benchmark: CPU time of one /metrics scrape (server and the in-process HTTP client together) with 0 and
// 10 converged runtimes, and the Docker calls it makes (none expected).
// Run as root: node --import tsx bench/metrics-scrape.bench.ts   (starts a private engine; prints a Markdown table)
import http from 'node:http';
import net from 'node:net';
import { normalizeCreateRequest } from '../src/domain/runtime-spec.js';
import { putRuntime } from '../src/store/desired-state.js';
import { countDockerCalls, startAgent } from '../test/support/agent-fixture.js';
import { buildBusyboxImage } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';

const SCRAPES = 2000;
const engine = await startPrivateEngine();
const lan = createLan('198.51.100.0/25');
const rows: string[] = [];

const s = net.createServer();
await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
const port = (s.address() as net.AddressInfo).port;
await new Promise((r) => s.close(r));
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
const scrape = () =>
  new Promise<number>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: keepAlive }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
    }).on('error', reject),
  );

try {
  await buildBusyboxImage(engine.docker, 'bench/runtime', 'latest', ['/bin/sleep', '100000']);
  const { agent, stop } = await startAgent(engine, { ORCH_RUNTIME_IMAGE: 'bench/runtime', ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_HEARTBEAT_INTERVAL_MS: '3600000', ORCH_DISK_CHECK_INTERVAL_MS: '3600000', ORCH_LOG_LEVEL: 'error', ORCH_METRICS_LISTEN: `127.0.0.1:${port}` });
  try {
    for (const n of [0, 10]) {
      for (let i = Object.keys(agent.store.state.runtimes).length; i < n; i++) {
        const r = normalizeCreateRequest({ container_name: `bench-${i}`, vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${i + 2}`, subnet: '198.51.100.0/25' }] });
        if (!r.ok) throw new Error(r.error);
        await putRuntime(agent.store, r.spec);
      }
      await waitFor(`${n} runtimes running`, () => Object.values(agent.store.state.runtimes).every((r) => r.status.phase === 'Running'), 300_000, 200);
      await agent.controller.settled();
      await new Promise((r) => setTimeout(r, 1000));
      for (let i = 0; i < 100; i++) await scrape(); // warm-up
      const calls = countDockerCalls(agent);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let bytes = 0;
      for (let i = 0; i < SCRAPES; i++) bytes = await scrape();
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuUsPer = (cpu.user + cpu.system) / SCRAPES;
      rows.push(`| ${n} | ${SCRAPES} | ${cpuUsPer.toFixed(0)} µs | ${((wallMs * 1000) / SCRAPES).toFixed(0)} µs | ${bytes} | ${calls.count} |`);
    }
  } finally {
    await stop();
  }
} finally {
  keepAlive.destroy();
  lan.remove();
  await engine.stop();
}
console.log('| runtimes | scrapes | CPU per scrape (server + client, one process) | wall per scrape | body bytes | Docker calls during the scrapes |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
