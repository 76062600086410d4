// Do no harm (DESIGN.md, CONTRACT §7-§8): the agent never removes or takes down a PLC it cannot prove
// unwanted, and never dies of a fault it can outlive. Each test causes the fault for real.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { askAgent } from '../../src/cli/control-client.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import { specHash } from '../../src/domain/spec-hash.js';
import { deleteDevice } from '../../src/sources/cloud/topics/delete-device.js';
import { normalizeCreateRequest, type RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '198.51.100.64/26';
let engine: Engine;
let lan: Lan;
let dataDir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;

const spec = (name: string, host: number, version?: string): RuntimeSpec => {
  const r = normalizeCreateRequest({
    container_name: name,
    ...(version ? { runtime_version: version } : {}),
    vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${64 + host}`, subnet: SUBNET }],
  });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
const inspect = (name: string) => engine.docker.getContainer(name).inspect();
const running = async (name: string) => (await inspect(name)).State.Running && agent.store.state.runtimes[name]?.status.phase === 'Running';
const restart = async (env: Record<string, string> = {}) => {
  await stopAgent();
  ({ agent, stop: stopAgent } = await startAgent(engine, env, dataDir));
};
/** Waits for `n` whole reconcile passes that started after now. */
const passes = async (n: number) => {
  for (let i = 0; i < n; i++) {
    const since = Date.now();
    await waitFor('a reconcile pass', () => agent.controller.lastPassAt > since, 15_000, 50);
  }
};
/** Kills the runtime's program from inside (no kill/stop event: a real crash). */
const crash = async (name: string) => {
  const e = await engine.docker.getContainer(name).exec({ Cmd: ['/bin/sh', '-c', 'kill -9 $(pidof node)'] });
  await e.start({});
};
/** A data dir of its own on a small tmpfs, unmounted after the test. */
const tmpfsDir = (t: { after: (fn: () => void) => void }) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-smalldisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'orch-smalldisk', mnt]);
  t.after(() => {
    spawnSync('umount', ['-l', mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
};
/** `docker kill` of a runtime, then the agent must start it again (restart policy `no`: only it can). */
const killAndAwaitRestart = async (name: string) => {
  const before = (await inspect(name)).State.StartedAt;
  await engine.docker.getContainer(name).kill();
  await waitFor(`${name} killed and started again`, async () => {
    const c = (await inspect(name)).State;
    return c.Running && c.StartedAt !== before;
  }, 30_000, 200);
};
const startsOf = async (id: string, since: number) => {
  const stream = await engine.docker.getEvents({ since: Math.floor(since / 1000), until: Math.ceil(Date.now() / 1000), filters: { container: [id], event: ['start'] } });
  const text = await new Promise<string>((resolve) => {
    let b = '';
    stream.on('data', (d: Buffer) => (b += d.toString()));
    stream.on('end', () => resolve(b));
  });
  return text.split('\n').filter(Boolean).length;
};

describe('do no harm', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-harm-'));
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    await putRuntime(agent.store, spec('plc-keep', 10));
    await putRuntime(agent.store, spec('plc-idle', 11));
    await waitFor('both running', async () => (await running('plc-keep')) && (await running('plc-idle')), 40_000, 200);
    await setLifecycle(agent.store, 'plc-idle', 'stop');
    await waitFor('plc-idle stopped', async () => !(await inspect('plc-idle')).State.Running, 30_000, 200);
  });
  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('state.json and .bak both lost: the desired state is rebuilt from the containers, nothing is removed, started or stopped', async () => {
    const before = { keep: (await inspect('plc-keep')).Id, idle: (await inspect('plc-idle')).Id };
    const specs = { keep: agent.store.state.runtimes['plc-keep']!.spec, idle: agent.store.state.runtimes['plc-idle']!.spec };
    await stopAgent();
    fs.writeFileSync(path.join(dataDir, 'state.json'), 'garbage');
    fs.writeFileSync(path.join(dataDir, 'state.json.bak'), '{"also": "garbage"}');
    // Usage history on disk: the first sample, before the first pass rebuilt the runtimes, must not erase it.
    const history = path.join(dataDir, 'usage-history.ndjson');
    const t = Math.floor(Date.now() / 1000);
    fs.appendFileSync(history, `${JSON.stringify({ samples: { 'device/plc-keep': Array.from({ length: 20 }, (_, i) => [t - 20 + i, 1, 10]) } })}\n`);
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    await waitFor('rebuilt', () => !agent.store.degraded, 15_000, 50);
    assert.equal(agent.store.source, 'containers');
    assert.ok(agent.telemetry.history.query('device/plc-keep', t - 20, t).length >= 20, 'usage history kept');
    await agent.telemetry.flush();
    assert.doesNotMatch(fs.readFileSync(history, 'utf8'), /"drop":"device\/plc-keep"/);
    assert.deepEqual(agent.store.state.runtimes['plc-keep']?.spec, specs.keep);
    assert.deepEqual(agent.store.state.runtimes['plc-idle']?.spec, specs.idle);
    assert.equal(agent.store.state.runtimes['plc-keep']?.running, true);
    assert.equal(agent.store.state.runtimes['plc-idle']?.running, false, 'running = what the container does now');
    // The measured failure: one create after a state loss removed every other runtime and its data volume.
    await putRuntime(agent.store, spec('plc-new', 12));
    await waitFor('plc-new running', () => running('plc-new'), 40_000, 200);
    await passes(2);
    assert.equal((await inspect('plc-keep')).Id, before.keep);
    assert.equal((await inspect('plc-keep')).State.Running, true);
    assert.equal((await inspect('plc-idle')).Id, before.idle);
    assert.equal((await inspect('plc-idle')).State.Running, false, 'no start without an order');
    const volumes = (await engine.docker.listVolumes()).Volumes.map((v) => v.Name);
    for (const v of ['plc-keep_data', 'plc-idle_data', 'plc-new_data']) assert.ok(volumes.includes(v), v);
    assert.deepEqual(await agent.controller.dryRun(), []);
  });

  test('a data volume of a runtime the agent never knew is never removed', async () => {
    await engine.docker.createVolume({ Name: 'plc-ghost_data', Labels: { 'edge.autonomy.managed': 'true', 'edge.autonomy.role': 'runtime-data', 'edge.autonomy.device': 'plc-ghost' } });
    await passes(2);
    assert.ok((await engine.docker.listVolumes()).Volumes.some((v) => v.Name === 'plc-ghost_data'));
    await engine.docker.getVolume('plc-ghost_data').remove();
  });

  test('a state file from a newer agent: up and refusing, nothing changed in Docker, the file never rewritten', async () => {
    await stopAgent();
    const file = path.join(dataDir, 'state.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const newer = `${JSON.stringify({ ...doc, schemaVersion: 2 }, null, 2)}\n`;
    fs.writeFileSync(file, newer);
    const corrupt = () => fs.readdirSync(dataDir).filter((f) => f.includes('corrupt'));
    const corruptBefore = corrupt();
    const history = path.join(dataDir, 'usage-history.ndjson');
    const historyBefore = fs.readFileSync(history, 'utf8');
    assert.match(historyBefore, /"device\/plc-keep"/);
    // A runtime that stops while the old agent refuses must stay as it is: the agent acts on nothing.
    await engine.docker.getContainer('plc-new').stop({ t: 1 });
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    const sock = path.join(dataDir, 'agent.sock');
    const health = (await askAgent(sock, { command: 'health' })) as { healthy?: boolean; problems?: string[] };
    assert.equal(health.healthy, false);
    assert.match(health.problems![0]!, /state\.json has schema 2; this agent understands up to 1/);
    const apply = await askAgent(sock, { command: 'start', name: 'plc-new' });
    assert.equal(apply.success, false);
    assert.equal(apply.error, '(state): state.json has schema 2; this agent understands up to 1');
    await new Promise((r) => setTimeout(r, 3000)); // three resync intervals in which nothing may happen
    assert.equal((await inspect('plc-new')).State.Running, false);
    assert.equal(fs.readFileSync(file, 'utf8'), newer);
    assert.deepEqual(corrupt(), corruptBefore, 'not moved aside as corrupt');
    // Back to a file this agent understands: everything resumes.
    await stopAgent();
    assert.equal(fs.readFileSync(history, 'utf8'), historyBefore, 'refusing: the usage history untouched (no sample, no drop)');
    fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    await waitFor('plc-new running again', () => running('plc-new'), 30_000, 200);
  });

  test('ORCH_RUNTIME_IMAGE says where images come from: another (unpullable) repository re-creates nothing', async () => {
    const id = (await inspect('plc-keep')).Id;
    await restart({ ORCH_RUNTIME_IMAGE: '127.0.0.1:1/unreachable/openplc' });
    await passes(3);
    assert.equal((await inspect('plc-keep')).Id, id);
    assert.equal((await inspect('plc-keep')).State.Running, true);
    assert.deepEqual(await agent.controller.dryRun(), []);
    await restart();
  });

  test('download before kill: a new version whose image cannot be pulled leaves the old container running, ImageReady=False', async () => {
    const id = (await inspect('plc-keep')).Id;
    assert.equal(await putRuntime(agent.store, spec('plc-keep', 10, 'no-such-tag'), { allowUpdate: true }), 'updated');
    await waitFor('PullFailed', () => agent.store.state.runtimes['plc-keep']?.status.conditions.find((c) => c.type === 'ImageReady')?.reason === 'PullFailed', 30_000, 100);
    await passes(2);
    const c = await inspect('plc-keep');
    assert.equal(c.Id, id);
    assert.equal(c.State.Running, true, 'the PLC stays up while its replacement cannot be had');
    // The old order back: nothing to do, no backoff from the failed pulls.
    await putRuntime(agent.store, spec('plc-keep', 10), { allowUpdate: true });
    await waitFor('converged', async () => (await agent.controller.dryRun()).length === 0 && agent.store.state.runtimes['plc-keep']?.status.phase === 'Running', 20_000, 100);
    assert.equal((await inspect('plc-keep')).Id, id);
  });

  test('pull before kill checks the image: one pruned since it was seen keeps the old container running, ImageReady=False', async () => {
    const id = (await inspect('plc-keep')).Id;
    await passes(1); // the image was seen local (imagesPresent), the runtime is converged
    await engine.docker.getImage(`${TEST_IMAGE}:latest`).remove({ force: true }); // docker rmi -f: pruned behind the agent's back
    assert.equal(await putRuntime(agent.store, spec('plc-keep', 13), { allowUpdate: true }), 'updated'); // a new address: a re-create
    await waitFor('ImageReady=False', () => agent.store.state.runtimes['plc-keep']?.status.conditions.find((c) => c.type === 'ImageReady')?.status === 'False', 30_000, 100);
    await waitFor('PullFailed', () => agent.store.state.runtimes['plc-keep']?.status.conditions.find((c) => c.type === 'ImageReady')?.reason === 'PullFailed', 30_000, 100);
    await passes(2);
    const c = await inspect('plc-keep');
    assert.equal(c.Id, id, 'not removed');
    assert.equal(c.State.Running, true, 'the PLC stays up while its image is gone');
    assert.equal(agent.store.state.runtimes['plc-keep']!.status.crashCount, 0);
    // The image back and the old order back: nothing to re-create.
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    await putRuntime(agent.store, spec('plc-keep', 10), { allowUpdate: true });
    await waitFor('converged', async () => (await agent.controller.dryRun()).length === 0 && agent.store.state.runtimes['plc-keep']?.status.phase === 'Running', 20_000, 100);
    assert.equal((await inspect('plc-keep')).Id, id);
  });

  test('a stop during a long pull: the agent stops within 10 s (Docker kills at 10 s) and the usage history is flushed', async (t) => {
    // A "registry" on loopback that accepts and never answers: the engine's pull hangs.
    const held: net.Socket[] = [];
    const registry = net.createServer((c) => void held.push(c));
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const c of held) c.destroy();
      registry.close();
    });
    const repo = `127.0.0.1:${(registry.address() as net.AddressInfo).port}/openplc`;
    await restart({ ORCH_RUNTIME_IMAGE: repo, ORCH_HEARTBEAT_INTERVAL_MS: '200' });
    await putRuntime(agent.store, spec('plc-pull', 14));
    await waitFor('the pull under way', async () => held.length > 0 && (await agent.controller.dryRun()).some((s) => s.action === 'pullImage' && s.reason.startsWith('in progress')), 20_000, 100);
    await waitFor('host samples', () => agent.telemetry.history.query('agent', 0, Infinity).length > 0, 10_000, 50);
    const history = path.join(dataDir, 'usage-history.ndjson');
    const before = fs.existsSync(history) ? fs.readFileSync(history, 'utf8').length : 0;
    const t0 = performance.now();
    await stopAgent();
    const took = performance.now() - t0;
    assert.ok(took < 9500, `stopped in ${Math.round(took)} ms (the forced exit 1 comes at 9.5 s)`);
    assert.ok(fs.readFileSync(history, 'utf8').length > before, 'the samples taken since the last batch are on disk');
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    await markForDeletion(agent.store, 'plc-pull');
    await waitFor('plc-pull gone', () => agent.store.state.runtimes['plc-pull'] === undefined, 30_000, 100);
  });

  test('delete_device of a runtime container the state does not name: taken into the state as deleting and really removed', async () => {
    const orphan = spec('plc-orphan', 15);
    await engine.docker.createVolume({ Name: 'plc-orphan_data', Labels: labelsFor('runtime-data', 'plc-orphan') });
    await engine.docker.createContainer({
      name: 'plc-orphan',
      Image: `${TEST_IMAGE}:latest`,
      Labels: { ...labelsFor('runtime', 'plc-orphan'), [LABEL.spec]: JSON.stringify(orphan), [LABEL.specHash]: specHash(orphan) },
    });
    await passes(2);
    assert.equal(agent.store.state.runtimes['plc-orphan'], undefined, 'outside the state (made after the start)');
    const ack = await deleteDevice.handle([{ correlation_id: 9, device_id: 'plc-orphan' }], agent.topics);
    assert.equal(ack.status, 'deleting');
    await waitFor('plc-orphan removed', async () => !(await engine.docker.listContainers({ all: true })).some((c) => c.Names.includes('/plc-orphan')), 30_000, 200);
    await waitFor('its volume removed and the runtime forgotten', async () => !(await engine.docker.listVolumes()).Volumes.some((v) => v.Name === 'plc-orphan_data') && agent.store.state.runtimes['plc-orphan'] === undefined, 30_000, 200);
    assert.equal((await inspect('plc-keep')).State.Running, true, 'nothing else touched');
    // Not a runtime: refused, never acked as deleting.
    const other = await deleteDevice.handle([{ correlation_id: 10, device_id: 'plc-keep_internal' }], agent.topics);
    assert.notEqual(other.status, 'deleting');
  });

  test('one restart_device restarts once; only a real crash counts as one; restart_count never goes down', async () => {
    const id = (await inspect('plc-keep')).Id;
    const t0 = Date.now();
    await setLifecycle(agent.store, 'plc-keep', 'restart');
    await waitFor('restart carried out', () => agent.store.state.runtimes['plc-keep']!.status.restartCount === agent.store.state.runtimes['plc-keep']!.restartCount, 30_000, 50);
    await passes(3);
    assert.equal(await startsOf(id, t0), 1, 'exactly one start for one restart request');
    let st = agent.store.state.runtimes['plc-keep']!.status;
    assert.equal(st.crashCount, 0, 'the agent’s own restart is not a crash');
    assert.equal(st.backoffUntil, null);
    // A restart by hand (docker restart) is not a crash either.
    await engine.docker.getContainer(id).restart({ t: 1 });
    await passes(3);
    assert.equal(agent.store.state.runtimes['plc-keep']!.status.crashCount, 0);
    // A real crash is.
    await crash('plc-keep');
    await waitFor('crash accounted', () => agent.store.state.runtimes['plc-keep']!.status.crashCount === 1, 20_000, 50);
    st = agent.store.state.runtimes['plc-keep']!.status;
    assert.equal(st.crashRestarts, 1);
    assert.ok(st.backoffUntil !== null);
    await setLifecycle(agent.store, 'plc-keep', 'start'); // an operator's start clears the wait
    await waitFor('running again', () => running('plc-keep'), 20_000, 100);
    assert.equal(agent.store.state.runtimes['plc-keep']!.status.crashRestarts, 1, 'kept while crashCount is reset');
  });

  test('a full data dir from the start: the agent starts, keeps runtimes alive, refuses desired writes, recovers by itself', async (t) => {
    await stopAgent();
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-fulldisk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'orch-fulldisk', mnt]);
    t.after(() => {
      spawnSync('umount', ['-l', mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    });
    for (const f of ['state.json', 'state.json.bak']) if (fs.existsSync(path.join(dataDir, f))) fs.copyFileSync(path.join(dataDir, f), path.join(mnt, f));
    const filler = path.join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'probe'), 'x'.repeat(8192)), /ENOSPC/);
    const full = await startAgent(engine, { ORCH_RESYNC_INTERVAL_MS: '1000' }, mnt);
    try {
      await waitFor('a pass', () => full.agent.controller.lastPassAt > 0, 15_000, 50);
      // A crashed runtime is restarted although status cannot be written.
      await crash('plc-new');
      await waitFor('plc-new crashed and restarted', async () => full.agent.store.state.runtimes['plc-new']!.status.crashCount >= 1 && (await inspect('plc-new')).State.Running, 60_000, 200);
      assert.equal(full.agent.store.unwritten, true);
      await assert.rejects(putRuntime(full.agent.store, spec('plc-refused', 13)), /state file not written: .*ENOSPC/);
      fs.rmSync(filler);
      await waitFor('written again by itself', () => !full.agent.store.unwritten, 5_000, 50);
      const onDisk = JSON.parse(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8')) as { runtimes: Record<string, { status: { crashCount: number } }> };
      assert.ok(onDisk.runtimes['plc-new']!.status.crashCount >= 1, 'the status kept in memory reached the disk');
      assert.equal(await putRuntime(full.agent.store, spec('plc-accepted', 13)), 'created');
    } finally {
      await full.stop();
    }
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
  });

  test('a full data dir at start with a runtime missing from the state: taken back in memory, and a killed PLC is started again', async (t) => {
    await stopAgent();
    const mnt = tmpfsDir(t);
    // A state one write behind the containers (as a .bak is): plc-keep is not in it.
    const doc = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { runtimes: Record<string, unknown> };
    delete doc.runtimes['plc-keep'];
    fs.writeFileSync(path.join(mnt, 'state.json'), JSON.stringify(doc, null, 2));
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'probe'), 'x'.repeat(8192)), /ENOSPC/);
    const full = await startAgent(engine, {}, mnt);
    try {
      await waitFor('plc-keep taken back', () => full.agent.store.state.runtimes['plc-keep']?.status.phase === 'Running', 15_000, 50);
      assert.equal(full.agent.store.state.runtimes['plc-keep']!.running, true);
      assert.equal(full.agent.store.unwritten, true, 'kept in memory');
      await killAndAwaitRestart('plc-keep');
    } finally {
      await full.stop();
    }
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
  });

  test('a read-only data dir with an unusable state.json: the agent starts, rebuilds from the containers in memory, and starts a killed PLC again', async (t) => {
    await stopAgent();
    const mnt = tmpfsDir(t);
    fs.writeFileSync(path.join(mnt, 'state.json'), '{"torn');
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const ro = await startAgent(engine, {}, mnt);
    try {
      await waitFor('rebuilt', () => !ro.agent.store.degraded, 15_000, 50);
      assert.equal(ro.agent.store.state.runtimes['plc-keep']?.running, true);
      assert.equal(ro.agent.store.state.runtimes['plc-idle']?.running, false);
      await killAndAwaitRestart('plc-keep');
      assert.equal((await inspect('plc-idle')).State.Running, false, 'no start without an order');
      assert.equal(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8'), '{"torn', 'nothing written');
    } finally {
      await ro.stop();
    }
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
  });

  test('an uninstall started by another agent container is never resumed by a fresh agent', async () => {
    await stopAgent();
    const file = path.join(dataDir, 'state.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { agent: Record<string, unknown> };
    doc.agent.uninstall = { requestedAt: new Date().toISOString(), step: 'deleting_netmon', error: null, byContainer: 'f'.repeat(64) };
    fs.writeFileSync(file, JSON.stringify(doc));
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir));
    assert.equal(agent.store.state.agent.uninstall, null);
    await passes(2);
    assert.equal((await inspect('plc-keep')).State.Running, true);
    assert.equal(await putRuntime(agent.store, spec('plc-after', 14)), 'created');
  });
});
