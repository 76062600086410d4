// The operator's commands as a person runs them: the README's demo, and state / plan / health / doctor
// against a running agent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { runCli } from '../support/agent-process.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const root = path.resolve(import.meta.dirname, '../..');

test('npm run demo: a runtime Running with its MACVLAN address and MAC, reachable from the LAN, then cleaned up', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts/demo.ts')], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, /observed {2}phase Running, generation 1 \(converged\)/);
  assert.match(r.stdout, /network {3}macvlan_\S+_198\.51\.100\.0_26 {2}ip 198\.51\.100\.10 {2}mac ([0-9a-f]{2}:){5}[0-9a-f]{2}/);
  assert.match(r.stdout, /nothing to do: converged/);
  assert.match(r.stdout, /200 \{"status":"PONG"\}/);
  assert.match(r.stdout, /done: the runtime and every object it had are gone/);
});

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let env: Record<string, string>;

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  lan = createLan('203.0.113.0/26');
  let dataDir: string;
  ({ agent, stop: stopAgent, dataDir } = await startAgent(engine));
  env = { ORCH_DATA_DIR: dataDir, DOCKER_HOST: engine.dockerHost, ORCH_CLOUD_URL: 'off', ORCH_NETMON_SOCKET: path.join(dataDir, 'no-netmon.sock') };
});

after(async () => {
  await stopAgent?.();
  lan?.remove();
  await engine?.stop();
});

test('state, plan, health and doctor against a running agent', async () => {
  const r = normalizeCreateRequest({ container_name: 'plc-cli', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.5', subnet: '203.0.113.0/26' }] });
  assert.ok(r.ok);
  await putRuntime(agent.store, r.spec);
  await waitFor('running', () => agent.store.state.runtimes['plc-cli']?.status.phase === 'Running', 30_000);
  await agent.controller.settled();
  const state = await runCli(['state'], env);
  assert.equal(state.code, 0);
  assert.match(state.stdout, /^plc-cli\n {2}desired {3}running, generation 1/m);
  assert.match(state.stdout, /Running +True +Started/);
  const json = JSON.parse((await runCli(['state', '--json'], env)).stdout) as { state: { runtimes: Record<string, unknown> } };
  assert.ok(json.state.runtimes['plc-cli']);
  assert.equal((await runCli(['plan'], env)).stdout, 'nothing to do: converged\n');
  const health = await runCli(['health'], env);
  assert.deepEqual([health.code, health.stdout], [0, 'healthy\n']);
  const doc = await runCli(['doctor'], env);
  assert.equal(doc.code, 0, doc.stdout);
  assert.match(doc.stdout, /^OK +agent +running/m);
  assert.match(doc.stdout, /^OK +docker +unix:\/\/\S+: API 1\.4\d/m);
  assert.match(doc.stdout, /^WARN +netmon/m);
  const stop = await runCli(['stop', 'plc-cli'], env);
  assert.equal(stop.code, 0);
  await waitFor('stopped', async () => (await runCli(['plan'], env)).stdout === 'nothing to do: converged\n' && agent.store.state.runtimes['plc-cli']?.status.phase === 'Stopped', 20_000, 200);
  const unknown = await runCli(['start', 'nope'], env);
  assert.deepEqual([unknown.code, unknown.stderr], [1, 'error: runtime nope not found\n']);
});
