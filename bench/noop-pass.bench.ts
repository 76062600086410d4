// Benchmark: Docker API calls and wall time of a no-op reconcile pass with 1, 10 and 50 converged runtimes.
// Run as root: npm run bench   (starts a private engine; prints a Markdown table)
import { performance } from 'node:perf_hooks';
import { putRuntime } from '../src/store/desired-state.js';
import { normalizeCreateRequest } from '../src/domain/runtime-spec.js';
import { countDockerCalls, startAgent } from '../test/support/agent-fixture.js';
import { buildBusyboxImage } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';

const engine = await startPrivateEngine();
const lan = createLan('198.51.100.0/25');
const rows: string[] = [];
try {
  await buildBusyboxImage(engine.docker, 'bench/runtime', 'latest', ['/bin/sleep', '100000']);
  for (const n of [1, 10, 50]) {
    const { agent, stop } = await startAgent(engine, { ORCH_RUNTIME_IMAGE: 'bench/runtime', ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_LOG_LEVEL: 'error' });
    // Count every HTTP request the agent's dockerode makes.
    const calls = countDockerCalls(agent);
    for (let i = 0; i < n; i++) {
      const r = normalizeCreateRequest({ container_name: `bench-${i}`, vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${i + 2}`, subnet: '198.51.100.0/25' }] });
      if (!r.ok) throw new Error(r.error);
      await putRuntime(agent.store, r.spec);
    }
    const t0 = performance.now();
    await waitFor(`${n} runtimes running`, () => Object.values(agent.store.state.runtimes).every((r) => r.status.phase === 'Running' && r.status.observedGeneration === 1), 300_000, 200);
    const convergeS = (performance.now() - t0) / 1000;
    await agent.controller.settled();
    const perPass: number[] = [];
    const times: number[] = [];
    for (let k = 0; k < 20; k++) {
      const before = calls.count;
      agent.controller.wake();
      await agent.controller.settled();
      times.push(agent.controller.lastPassMs);
      perPass.push(calls.count - before);
    }
    times.sort((a, b) => a - b);
    const steps = await agent.controller.dryRun();
    rows.push(`| ${n} | ${Math.min(...perPass)}–${Math.max(...perPass)} | ${times[10]!.toFixed(1)} ms | ${convergeS.toFixed(1)} s | ${steps.length} |`);
    for (let i = 0; i < n; i++) await agent.store.update('desired', (s) => void (s.runtimes[`bench-${i}`]!.deletion = { requestedAt: new Date().toISOString() }));
    await waitFor('cleanup', () => Object.keys(agent.store.state.runtimes).length === 0, 300_000, 200);
    await stop();
  }
} finally {
  lan.remove();
  await engine.stop();
}
console.log('| runtimes | Docker API calls per no-op pass | median pass time (20 passes) | create → all Running | plan() steps after |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
