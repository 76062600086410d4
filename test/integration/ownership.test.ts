// Issue #22 item 1 and 5: the agent touches only the containers it owns as runtimes. The agent's and netmon's
// containers (CONTRACT §1) and another program's container are never removed, addressed or re-created,
// whatever a request, the operator or a state file names; on a real engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import type { Agent } from '../../src/agent.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { createNewRuntime } from '../../src/sources/cloud/topics/create-new-runtime.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import { runCommand } from '../../src/sources/cloud/topics/run-command.js';
import type { TopicContext } from '../../src/sources/cloud/topic.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { runCli } from '../support/agent-process.js';
import { buildBusyboxImage, buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let agent: Agent;
let stopAgent: () => Promise<void>;
let dataDir: string;
let ctx: TopicContext;
let lan: Lan;
const others: Record<string, Docker.ContainerInspectInfo> = {};
// The agent's and netmon's containers as install.sh makes them (names and role labels), and a foreign one.
const OTHERS: [string, Record<string, string>][] = [
  ['orchestrator_agent', labelsFor('orchestrator-agent')],
  ['autonomy_netmon', labelsFor('netmon')],
  ['plc-foreign', {}],
];
let vnic: Record<string, string>;
const vnicOn = (parent: string) => ({ parent_interface: parent, network_mode: 'static', ip: '203.0.113.5', subnet: '203.0.113.0/26' });

before(async () => {
  engine = await startPrivateEngine();
  lan = createLan('203.0.113.0/26');
  vnic = vnicOn(lan.parent);
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  await buildBusyboxImage(engine.docker, 'orch-test/sleeper', 'latest', ['/bin/sleep', '3600']);
  for (const [name, labels] of OTHERS) {
    const c = await engine.docker.createContainer({ name, Image: 'orch-test/sleeper:latest', Labels: labels, HostConfig: { NetworkMode: 'none' } });
    await c.start();
    others[name] = await c.inspect();
  }
  ({ agent, stop: stopAgent, dataDir } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }));
  ctx = { store: agent.store, docker: agent.docker, controller: agent.controller, netmon: agent.netmon, ...(agent as unknown as Pick<TopicContext, 'config' | 'log'>) } as unknown as TopicContext;
});

after(async () => {
  await stopAgent?.();
  lan?.remove();
  await engine?.stop();
});

/** Every one of the other containers is still there, the same one, still running since its start. */
async function untouched(): Promise<void> {
  for (const [name] of OTHERS) {
    const now = await engine.docker.getContainer(name).inspect();
    assert.equal(now.Id, others[name]!.Id, name);
    assert.equal(now.State.Running, true, name);
    assert.equal(now.State.StartedAt, others[name]!.State.StartedAt, name);
  }
}

test('create_new_runtime and the operator apply refuse the agent, netmon and a foreign container name; nothing is declared', async () => {
  for (const [name] of OTHERS) {
    const ack = await createNewRuntime.handle([{ container_name: name, vnic_configs: [vnic] }], ctx);
    assert.equal(ack.status, 'error', JSON.stringify(ack));
    assert.match(String(ack.error), /^container_name: /, name);
    const file = path.join(dataDir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ container_name: name, vnic_configs: [vnic] }));
    const r = await runCli(['apply', file], { ORCH_DATA_DIR: dataDir, ORCH_CLOUD_URL: 'off', DOCKER_HOST: engine.dockerHost });
    assert.notEqual(r.code, 0, name);
    assert.match(r.stderr + r.stdout, /container_name: /, name);
  }
  assert.match(String((await createNewRuntime.handle([{ container_name: 'plc-foreign', vnic_configs: [vnic] }], ctx)).error), /not the agent's/);
  assert.deepEqual(Object.keys(agent.store.state.runtimes), []);
  await untouched();
});

test('get_device_status and run_command address no container but a declared runtime of the agent', async () => {
  for (const [name] of OTHERS) {
    const st = await getDeviceStatus.handle([{ device_id: name }], ctx);
    assert.equal(st.status, 'not_found', JSON.stringify(st));
    assert.equal(st.container_status, undefined);
    const rc = await runCommand.handle([{ device_id: name, method: 'GET', api: '/api/ping' }], ctx);
    assert.equal(rc.status, 'error', JSON.stringify(rc));
    assert.match(String(rc.error), new RegExp(`^Device not found: ${name}`));
  }
});

test('a state file naming those containers (validation bypassed): the planner waits or fails, and removes none of them', async () => {
  const spec = (name: string): RuntimeSpec => ({ name, runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: lan.parent, mode: 'static', ip: '203.0.113.5', subnet: '203.0.113.0/26', dns: [] }] });
  for (const [name] of OTHERS) await putRuntime(agent.store, spec(name));
  for (const name of ['orchestrator_agent', 'autonomy_netmon']) {
    await waitFor(`${name} waits`, () => agent.store.state.runtimes[name]?.status.conditions.some((c) => c.reason === 'NameTaken'), 30_000);
  }
  // The foreign unlabelled container is not in the agent's view: Docker refuses the create, and the status says why.
  await waitFor('plc-foreign NameTaken', () => agent.store.state.runtimes['plc-foreign']?.status.conditions.some((c) => c.reason === 'NameTaken' && /does not own/.test(c.message)), 30_000);
  // Declared (as an old state file could), the foreign container is still not addressable.
  const rc = await runCommand.handle([{ device_id: 'plc-foreign', method: 'GET', api: '/api/ping' }], ctx);
  assert.match(String(rc.error), /^Device plc-foreign: container plc-foreign is not the agent's/);
  assert.equal((await getDeviceStatus.handle([{ device_id: 'plc-foreign' }], ctx)).container_status, undefined);
  // Deleting them removes none of the containers either.
  for (const [name] of OTHERS) await agent.store.update('desired', (s) => void (s.runtimes[name]!.deletion = { requestedAt: new Date().toISOString() }));
  await waitFor('deletions done', () => OTHERS.every(([n]) => !(n in agent.store.state.runtimes)), 30_000);
  await untouched();
  const labelled = await engine.docker.listContainers({ all: true, filters: { label: [`${LABEL.role}=runtime`] } });
  assert.deepEqual(labelled, []);
});
