// Runtime version upgrades against a real engine (issue #27): a new runtime_version replaces the container,
// keeps its data volume and is gated on GET /api/version; a version that never answers is rolled back to
// the previous one (or held stopped when that image is gone), once, until a new order.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest, type RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { createNewRuntime } from '../../src/sources/cloud/topics/create-new-runtime.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import type { TopicContext } from '../../src/sources/cloud/topic.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { execIn } from '../support/exec-in.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.240/28';
const READY_TIMEOUT_MS = 6000;
const ENV = { ORCH_RUNTIME_READY_TIMEOUT_MS: String(READY_TIMEOUT_MS) };

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let dataDir: string;

const spec = (version: string): RuntimeSpec => {
  const r = normalizeCreateRequest({
    container_name: 'plc-up',
    runtime_version: version,
    vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.242', subnet: SUBNET }],
  });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
const rec = () => agent.store.state.runtimes['plc-up']!;
const cond = (type: string) => rec().status.conditions.find((c) => c.type === type);
const inspect = () => engine.docker.getContainer('plc-up').inspect();
const marker = async () => (await execIn(engine.docker, engine.docker.getContainer('plc-up'), ['/bin/cat', '/var/run/runtime/marker'])).out.trim();
const ctx = (): TopicContext => ({ store: agent.store, controller: agent.controller, docker: engine.docker, netmon: { connected: false } }) as unknown as TopicContext;
const onDisk = () => (JSON.parse(fs.readFileSync(`${dataDir}/state.json`, 'utf8')) as { runtimes: Record<string, { status: { upgrade?: Record<string, unknown> } }> }).runtimes['plc-up']!.status;

describe('runtime version upgrade on a real engine', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'v1');
    await engine.docker.getImage(`${TEST_IMAGE}:v1`).tag({ repo: TEST_IMAGE, tag: 'v2' }); // same content, another tag
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'never', { neverReady: true });
    lan = createLan(SUBNET);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-data-')); // kept across the agent restart below
    ({ agent, stop: stopAgent } = await startAgent(engine, ENV, dataDir));
  });

  after(async () => {
    await stopAgent?.();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    lan?.remove();
    await engine?.stop();
  });

  test('a new runtime_version from create_new_runtime: the new tag runs, the data volume is kept, the upgrade is final once ready', async () => {
    await putRuntime(agent.store, spec('v1'));
    await waitFor('v1 running', () => rec()?.status.phase === 'Running' && rec().status.observedGeneration === 1);
    const exec = await execIn(engine.docker, engine.docker.getContainer('plc-up'), ['/bin/sh', '-c', 'echo kept > /var/run/runtime/marker']);
    assert.equal(exec.code, 0, exec.out);
    const old = await inspect();
    const payload = { correlation_id: 1, container_name: 'plc-up', runtime_version: 'v2', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.242', subnet: SUBNET }] };
    const ack = await createNewRuntime.handle([payload], ctx());
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    assert.match(String(ack.message), /upgrade to v2/);
    // The gate is seen while it is open: the record is there and ContainerReady waits for the answer.
    await waitFor('upgrade recorded', () => rec().status.upgrade?.stage === 'rollingOut');
    assert.equal(rec().status.upgrade!.from.image, `${TEST_IMAGE}:v1`);
    await waitFor('v2 upgraded', () => rec().status.observedGeneration === 2 && rec().status.upgrade === undefined && rec().status.phase === 'Running', 30_000);
    const now = await inspect();
    assert.notEqual(now.Id, old.Id);
    assert.equal(now.Config.Image, `${TEST_IMAGE}:v2`);
    assert.equal(await marker(), 'kept');
    assert.ok(rec().status.conditions.every((c) => c.status === 'True'), JSON.stringify(rec().status.conditions));
    assert.equal(onDisk().upgrade, undefined);
  });

  test('a version that never answers /api/version is rolled back to the previous one with the same volume, once (an agent restart mid-gate continues it)', async () => {
    const before = await inspect();
    await putRuntime(agent.store, spec('never'));
    await waitFor('the never-ready version running, gated', async () => cond('ContainerReady')?.reason === 'WaitingForReady' && (await inspect()).Config.Image === `${TEST_IMAGE}:never` && (await inspect()).State.Running);
    assert.equal(rec().status.upgrade?.stage, 'rollingOut');
    assert.equal(rec().status.phase, 'Creating');
    // The agent goes away mid-gate (the old container is gone, the new one runs) and a new one takes over.
    await stopAgent();
    ({ agent, stop: stopAgent } = await startAgent(engine, ENV, dataDir));
    assert.equal(rec().status.upgrade?.stage, 'rollingOut', 'the rollback target survived the restart');
    await waitFor('rolled back', async () => rec().status.upgrade?.stage === 'rolledBack' && (await inspect()).Config.Image === `${TEST_IMAGE}:v2` && (await inspect()).State.Running, 40_000);
    const back = await inspect();
    assert.notEqual(back.Id, before.Id);
    assert.equal(await marker(), 'kept');
    const u = rec().status.upgrade!;
    assert.equal(u.failedVersion, 'never');
    assert.match(u.reason!, /never did not answer GET \/api\/version within 6 s \(last: HTTP 503\); rolled back to v2/);
    assert.deepEqual([cond('ContainerReady')?.status, cond('ContainerReady')?.reason], ['False', 'UpgradeRolledBack']);
    assert.equal(rec().status.phase, 'Running');
    assert.equal(rec().status.observedGeneration, 2, 'generation 3 is not what runs');
    assert.equal((onDisk().upgrade as { stage: string }).stage, 'rolledBack');
    const st = await getDeviceStatus.handle([{ correlation_id: 2, device_id: 'plc-up' }], ctx());
    const c = (st.conditions as { type: string; reason: string; message: string }[]).find((x) => x.type === 'ContainerReady')!;
    assert.equal(c.reason, 'UpgradeRolledBack');
    assert.match(c.message, /rolled back to v2/);
    assert.deepEqual([(st.upgrade as Record<string, unknown>).stage, (st.upgrade as Record<string, unknown>).failed_version], ['rolledBack', 'never']);
    // No loop: well past another timeout, the same container runs and nothing is planned.
    await sleep(READY_TIMEOUT_MS + 3000);
    await agent.controller.settled();
    const still = await inspect();
    assert.equal(still.Id, back.Id);
    assert.equal(still.State.StartedAt, back.State.StartedAt);
    assert.deepEqual((await agent.controller.dryRun()).filter((s) => s.device === 'plc-up'), []);
  });

  test('a new order for the failed version with the previous image gone: held stopped with a clear condition, no loop', async () => {
    // The same spec again is a new order (a retry); the previous image disappears while the gate is open.
    assert.equal(await putRuntime(agent.store, spec('never')), 'updated');
    assert.equal(rec().generation, 4);
    await waitFor('the never-ready version running again', async () => rec().status.upgrade?.generation === 4 && (await inspect()).Config.Image === `${TEST_IMAGE}:never` && (await inspect()).State.Running);
    assert.equal(rec().status.upgrade!.from.image, `${TEST_IMAGE}:v2`);
    await engine.docker.getImage(`${TEST_IMAGE}:v2`).remove();
    await waitFor('held stopped', async () => cond('Running')?.reason === 'UpgradeHeld' && rec().status.upgrade?.stage === 'held' && !(await inspect()).State.Running, 40_000);
    assert.deepEqual([cond('ContainerReady')?.reason, cond('Running')?.reason], ['UpgradeHeld', 'UpgradeHeld']);
    assert.match(cond('Running')!.message, /previous image orch-test\/openplc-runtime:v2 is no longer local: held stopped until a new order/);
    assert.equal(rec().status.phase, 'Failed');
    const held = await inspect();
    await sleep(READY_TIMEOUT_MS + 3000);
    await agent.controller.settled();
    const still = await inspect();
    assert.equal(still.Id, held.Id);
    assert.equal(still.State.Running, false);
    assert.equal(still.State.StartedAt, held.State.StartedAt);
    assert.deepEqual((await agent.controller.dryRun()).filter((s) => s.device === 'plc-up'), []);
    assert.equal(await marker().catch(() => 'not running'), 'not running');
    // A new order for a version that is local brings it back, the volume intact.
    await putRuntime(agent.store, spec('v1'));
    await waitFor('v1 again', async () => rec().status.upgrade === undefined && rec().status.phase === 'Running' && (await inspect()).Config.Image === `${TEST_IMAGE}:v1`, 40_000);
    assert.equal(await marker(), 'kept');
  });
});
