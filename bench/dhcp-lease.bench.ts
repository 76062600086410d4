// Benchmark: a dhcp vNIC's lease time — container start (Docker's start event) → NetworkReady=True with the
// LAN server's lease in the status (netmon's udhcpc in the runtime namespace, busybox udhcpd in the LAN).
// 10 restarts of one runtime, median and worst. Run as root: node --import tsx bench/dhcp-lease.bench.ts
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { normalizeCreateRequest } from '../src/domain/runtime-spec.js';
import { putRuntime, setLifecycle } from '../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../test/support/agent-fixture.js';
import { buildRuntimeStandIn } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { NetmonProcess } from '../test/support/netmon-process.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';

const RUNS = 10;
const engine = await startPrivateEngine();
const lan = createLan('203.0.113.0/26');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-bench-dhcp-'));
const conf = path.join(dir, 'udhcpd.conf');
fs.writeFileSync(conf, ['start 203.0.113.40', 'end 203.0.113.50', `interface op${lan.parent.slice(2)}`, `lease_file ${path.join(dir, 'leases')}`, `pidfile ${path.join(dir, 'pid')}`, 'option subnet 255.255.255.192', `option router ${lan.peerIp}`, ''].join('\n'));
fs.writeFileSync(path.join(dir, 'leases'), '');
const server = spawn('ip', ['netns', 'exec', lan.ns, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
const netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), 100);
const times: number[] = [];
try {
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  await netmon.start();
  const { agent, stop } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000', ORCH_LOG_LEVEL: 'error' }, dir);
  const r = normalizeCreateRequest({ container_name: 'bench-dhcp', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'dhcp', subnet: '203.0.113.0/26' }] });
  if (!r.ok) throw new Error(r.error);
  const ready = () => agent.store.state.runtimes['bench-dhcp']?.status.conditions.find((c) => c.type === 'NetworkReady')?.status === 'True';
  await putRuntime(agent.store, r.spec);
  await waitFor('first lease', ready, 60_000, 20);
  for (let i = 0; i < RUNS; i++) {
    const events = await engine.docker.getEvents({ filters: { type: ['container'], event: ['start'], container: ['bench-dhcp'] } });
    let startedAt = 0;
    events.on('data', () => (startedAt ||= performance.now()));
    await setLifecycle(agent.store, 'bench-dhcp', 'restart');
    await waitFor('restarted', () => startedAt > 0 && !ready(), 30_000, 2);
    await waitFor('leased', () => ready(), 60_000, 2);
    times.push(performance.now() - startedAt);
    (events as unknown as { destroy(): void }).destroy();
  }
  await stop();
} finally {
  await netmon.stop();
  server.kill();
  lan.remove();
  await engine.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
console.log(`dhcp-lease, ${RUNS} restarts, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`);
console.log('| | median | worst | best |');
console.log('|---|---|---|---|');
console.log(`| container start → NetworkReady=True (lease applied) | ${times[Math.floor(RUNS / 2)]!.toFixed(0)} ms | ${times[RUNS - 1]!.toFixed(0)} ms | ${times[0]!.toFixed(0)} ms |`);
