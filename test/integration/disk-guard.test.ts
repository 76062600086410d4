// The disk guard on a real engine whose data root is a 200 MiB tmpfs that the test fills up (issue #23):
// DiskPressure, image GC least recently used first and only of what nothing needs, a pull refused before
// anything stops, and never a PLC stopped for space.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { heartbeatPayload } from '../../src/sources/cloud/heartbeat.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildBusyboxImage, buildPayloadImage } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const MiB = 2 ** 20;
let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let dataRoot: string;

const usedPercent = () => {
  const s = fs.statfsSync(dataRoot);
  return ((s.blocks - s.bavail) / s.blocks) * 100;
};
/** Fills the data root with a file of its own until `percent` of it is used. */
function fillTo(name: string, percent: number): void {
  const s = fs.statfsSync(dataRoot);
  const bytes = Math.floor((s.blocks * s.bsize * percent) / 100 - (s.blocks - s.bavail) * s.bsize);
  assert.ok(bytes > 0, `already ${usedPercent().toFixed(1)}% used`);
  execFileSync('fallocate', ['-l', String(bytes), path.join(dataRoot, name)]);
}
const hasImage = (ref: string) => engine.docker.getImage(ref).inspect().then(() => true, () => false);
const pressure = () => agent.disk!.condition;

describe('disk guard on a real engine with a small data root', () => {
  before(async () => {
    engine = await startPrivateEngine({ dataRootBytes: 200 * MiB });
    assert.ok(engine.dir, 'needs a private engine (not ORCH_TEST_DOCKER_HOST)');
    dataRoot = path.join(engine.dir, 'data');
    await buildBusyboxImage(engine.docker, TEST_IMAGE, 'v1', ['/bin/sleep', '3600']);
    // Pulled (tagged) in this order: old-a is the least recently used.
    await buildPayloadImage(engine.docker, TEST_IMAGE, 'old-a', 20 * MiB);
    await buildPayloadImage(engine.docker, TEST_IMAGE, 'old-b', 5 * MiB);
    await buildPayloadImage(engine.docker, 'orch-test/someone-else', 'keep', 5 * MiB);
    lan = createLan('203.0.113.64/26');
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_DISK_CHECK_INTERVAL_MS: '300', ORCH_DISK_HIGH_WATER_PERCENT: '90', ORCH_DISK_LOW_WATER_PERCENT: '85' }));
    const r = normalizeCreateRequest({ container_name: 'plc-disk', runtime_version: 'v1', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.70', subnet: '203.0.113.64/26' }] });
    assert.ok(r.ok);
    await putRuntime(agent.store, r.spec);
    await waitFor('plc-disk running', () => agent.store.state.runtimes['plc-disk']?.status.phase === 'Running', 30_000);
  });

  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
  });

  test('enough space: DiskPressure False, in get_device_status __orchestrator__ and the heartbeat', async () => {
    await waitFor('measured', () => pressure().status === 'False', 10_000);
    assert.match(pressure().message, /Docker data root \d+(\.\d)?% used; data dir \d+(\.\d)?% used/);
    const ack = await getDeviceStatus.handle([{ device_id: '__orchestrator__' }], agent.topics);
    assert.deepEqual((ack.conditions as { type: string; status: string }[]).map((c) => [c.type, c.status]), [['DiskPressure', 'False']]);
    assert.equal(heartbeatPayload('id', 'v', 0, agent.telemetry, agent.store, agent.disk).disk_pressure, false);
  });

  test('above the high-water mark: the least recently used image nothing needs goes, down to the low-water mark; the PLC runs on', async () => {
    const before = await engine.docker.getContainer('plc-disk').inspect();
    fillTo('filler-1', 91);
    // old-a (20 MiB) frees more than the 6 % (12 MiB) asked for: old-b stays. Smallest-first would take both.
    await waitFor('old-a removed', async () => !(await hasImage(`${TEST_IMAGE}:old-a`)), 15_000, 200);
    await waitFor('DiskPressure False again', () => pressure().status === 'False', 10_000);
    assert.ok(usedPercent() < 85, `${usedPercent().toFixed(1)}% used`);
    assert.equal(await hasImage(`${TEST_IMAGE}:old-b`), true, 'only as much as needed');
    assert.equal(await hasImage(`${TEST_IMAGE}:v1`), true, 'in use by a runtime');
    assert.equal(await hasImage('orch-test/someone-else:keep'), true, 'not the agent\'s repository');
    const now = await engine.docker.getContainer('plc-disk').inspect();
    assert.deepEqual([now.Id, now.State.Running, now.State.StartedAt], [before.Id, true, before.State.StartedAt]);
    assert.equal(agent.disk!.imagesRemoved, 1);
  });

  test('full beyond what GC can free: DiskPressure True, a new version\'s pull refused before anything stops', async () => {
    const before = await engine.docker.getContainer('plc-disk').inspect();
    fillTo('filler-2', 98);
    await waitFor('DiskPressure True', () => pressure().status === 'True', 10_000);
    assert.equal(pressure().reason, 'DockerDataRootFull');
    assert.equal(await hasImage(`${TEST_IMAGE}:old-b`), false, 'collected: the rest of what could go');
    assert.equal(heartbeatPayload('id', 'v', 0, agent.telemetry, agent.store, agent.disk).disk_pressure, true);
    const r = normalizeCreateRequest({ container_name: 'plc-disk', runtime_version: 'v2', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.70', subnet: '203.0.113.64/26' }] });
    assert.ok(r.ok);
    await putRuntime(agent.store, r.spec, { allowUpdate: true });
    const cond = await waitFor('ImageReady=False DiskPressure', () => agent.store.state.runtimes['plc-disk']?.status.conditions.find((c) => c.type === 'ImageReady' && c.status === 'False' && c.reason === 'DiskPressure'), 20_000);
    assert.match(cond.message, /not pulled: the Docker data root \S+ has \d+ MiB free of \d+ MiB, the image needs about \d+ MiB and 90% is the most the agent fills/);
    const now = await engine.docker.getContainer('plc-disk').inspect();
    assert.deepEqual([now.Id, now.State.Running, now.State.StartedAt, now.Config.Image], [before.Id, true, before.State.StartedAt, `${TEST_IMAGE}:v1`]);
  });

  test('space back: DiskPressure False within a check, and the pull is tried again (here it fails: no registry)', async () => {
    fs.rmSync(path.join(dataRoot, 'filler-1'));
    fs.rmSync(path.join(dataRoot, 'filler-2'));
    await waitFor('DiskPressure False', () => pressure().status === 'False', 10_000);
    await waitFor('PullFailed instead of DiskPressure', () => agent.store.state.runtimes['plc-disk']?.status.conditions.find((c) => c.type === 'ImageReady' && c.reason === 'PullFailed'), 60_000, 200);
    assert.equal((await engine.docker.getContainer('plc-disk').inspect()).State.Running, true, 'the old container still runs');
  });
});
