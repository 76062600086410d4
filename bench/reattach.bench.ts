// Benchmark: host address change → runtime re-attached on the new MACVLAN network (MAC kept, no restart).
// Time from the agent receiving netmon's change (debounce excluded) to the runtime's status showing the
// new endpoint with its MAC. Median and worst of 10. Run as root: npx tsx bench/reattach.bench.ts
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { deriveMac, normalizeCreateRequest } from '../src/domain/runtime-spec.js';
import { putRuntime } from '../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../test/support/agent-fixture.js';
import { buildRuntimeStandIn } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { NetmonProcess } from '../test/support/netmon-process.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'ignore' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-bench-'));
const engine = await startPrivateEngine();
const lan = createLan('198.51.100.64/26');
const netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), 100);
const times: number[] = [];
try {
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  ip('addr', 'add', '198.51.100.125/26', 'dev', lan.parent);
  await netmon.start();
  const { agent, stop } = await startAgent(engine, { ORCH_NETMON_SOCKET: netmon.socketPath, ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_HEARTBEAT_INTERVAL_MS: '3600000' });
  const r = normalizeCreateRequest({ container_name: 'plc', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'dhcp' }] });
  if (!r.ok) throw new Error(r.error);
  await putRuntime(agent.store, r.spec);
  const mac = deriveMac('plc', 'eth0');
  const on = (cidr: string) => {
    const st = agent.store.state.runtimes.plc?.status;
    const ep = st?.endpoints[`macvlan_${lan.parent}_${cidr.replace('/', '_')}`];
    return st?.phase === 'Running' && ep?.mac === mac && Object.keys(st.endpoints).length === 1;
  };
  await waitFor('first convergence', () => on('198.51.100.64/26'), 30_000);
  const startedAt = (await engine.docker.getContainer('plc').inspect()).State.StartedAt;
  const subnets = [['203.0.113.125/26', '203.0.113.64/26'], ['198.51.100.125/26', '198.51.100.64/26']] as const;
  for (let i = 0; i < 10; i++) {
    const [hostCidr, net] = subnets[i % 2]!;
    let t0 = 0;
    const onHost = (kind: string) => {
      if (kind === 'host' && t0 === 0) t0 = performance.now();
    };
    agent.store.on('change', onHost);
    ip('addr', 'flush', 'dev', lan.parent);
    ip('addr', 'add', hostCidr, 'dev', lan.parent);
    await waitFor(`re-attached to ${net}`, () => on(net), 30_000, 5);
    times.push(performance.now() - t0);
    agent.store.off('change', onHost);
  }
  const after = (await engine.docker.getContainer('plc').inspect()).State.StartedAt;
  if (after !== startedAt) throw new Error('the container was restarted');
  await stop();
} finally {
  await netmon.stop();
  lan.remove();
  await engine.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
console.log(`host address change → runtime re-attached (debounce excluded), 10 runs: median ${((times[4]! + times[5]!) / 2).toFixed(0)} ms, worst ${times[9]!.toFixed(0)} ms, best ${times[0]!.toFixed(0)} ms`);
