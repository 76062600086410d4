// The agent's staged, health-gated self-update (docs/updates.md) on a real engine: the shipped agent image
// (built by the harness), a second version derived from it (another AGENT_VERSION, so another image id) and
// bad ones derived in the test only (an entry point that exits at once; one that never reaches the cloud).
// The agent runs in its container as installed (engine socket, shared volume, mTLS dir), beside netmon,
// connected over mTLS to a test cloud on the bridge's gateway; upgrade_orchestrator comes from that cloud.
// Each case checks that the runtime container keeps its id, StartedAt and MAC, and which agent runs at the end.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { buildImages, netmonHostConfig, type BuiltImages } from '../support/agent-image.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { powerCut, startPrivateEngine, type Engine } from '../support/private-engine.js';
import { agentMtlsDir, makePki, TestCloud, type Pki } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

const TEST_IMAGE = 'orch-test/openplc-runtime';
const AGENT_ID = 'agent-upd-1';
const REPO = 'orch-test/agent';
let engine: Engine;
let lan: Lan;
let pki: Pki;
let cloud: TestCloud;
let images: BuiltImages;
let oldAgentId: string;
const PAUSE_FILE = 'updater-pause';
const LABELS = (role: string) => ({ 'edge.autonomy.role': role, 'edge.autonomy.managed': 'true' });

/** An image FROM the built agent with a few Dockerfile lines more. */
async function derive(tag: string, lines: string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-derive-'));
  try {
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [`FROM ${images.agent}`, ...lines].join('\n') + '\n');
    const stream = await engine.docker.buildImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, { t: `${REPO}:${tag}` });
    await new Promise<void>((resolve, reject) =>
      engine.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err ?? out.find((o) => o.error) ? reject(err ?? new Error(out.find((o) => o.error)!.error)) : resolve())),
    );
    return (await engine.docker.getImage(`${REPO}:${tag}`).inspect()).Id;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runtimeIdentity() {
  const c = await engine.docker.getContainer('plc-upd').inspect();
  const macs = Object.entries(c.NetworkSettings.Networks).filter(([n]) => n.startsWith('macvlan_')).map(([, e]) => e.MacAddress);
  return { id: c.Id, startedAt: c.State.StartedAt, running: c.State.Running, macs };
}

async function agentContainer(): Promise<Docker.ContainerInspectInfo> {
  return engine.docker.getContainer('orchestrator_agent').inspect();
}

/** After an update has ended: the updater gone, one agent container left, running under unless-stopped. */
async function oneAgentRunning(): Promise<Docker.ContainerInspectInfo> {
  await waitFor('the updater removed', async () => !(await names()).includes('orchestrator_updater'), 20_000, 500);
  assert.deepEqual((await names()).filter((n) => n.startsWith('orchestrator')), ['orchestrator_agent']);
  const a = await agentContainer();
  assert.equal(a.State.Running, true);
  assert.equal(a.HostConfig.RestartPolicy?.Name, 'unless-stopped', 'its restart policy');
  return a;
}

const orchestratorStatus = () => cloud.call('get_device_status', { correlation_id: 'st', device_id: '__orchestrator__' });

/** Asks for the update and waits until it ended (success or error) as the cloud sees it; returns the final status. */
async function update(image: string): Promise<Record<string, unknown>> {
  const ack = await cloud.call('upgrade_orchestrator', { correlation_id: `u-${image}`, image });
  assert.equal(ack.status, 'accepted', JSON.stringify(ack));
  const seen = new Set<string>();
  const end = await waitFor(`update to ${image} ended`, async () => {
    const s = await orchestratorStatus().catch(() => null); // between the two agents nobody answers
    if (s) seen.add(`${String(s.status)}/${String(s.step)}`);
    return s && (s.status === 'success' || s.status === 'error') ? s : null;
  }, 150_000, 500);
  return { ...end, seen: [...seen] };
}

const sharedDir = async () => (await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint;

/**
 * Orders the update to `image` with the updater paused before each of `keys` (`<phase>/<action>`, the
 * test-only ORCH_TEST_UPDATER_PAUSE hook) in turn; at each one `fault` (a SIGKILL, a power cut) and the
 * updater carries on from what it finds. Returns the update's final status as the cloud sees it.
 */
async function updateWithFaults(image: string, keys: string[], fault: (key: string) => Promise<void>): Promise<Record<string, unknown>> {
  const file = path.join(await sharedDir(), PAUSE_FILE);
  fs.rmSync(`${file}.reached`, { force: true });
  fs.writeFileSync(file, keys.join('\n') + '\n');
  try {
    assert.equal((await cloud.call('upgrade_orchestrator', { correlation_id: `f-${image}`, image })).status, 'accepted');
    for (const key of keys) {
      await waitFor(`updater paused at ${key}`, () => fs.existsSync(`${file}.reached`) && fs.readFileSync(`${file}.reached`, 'utf8').split('\n').includes(key), 120_000, 100);
      await fault(key);
    }
    return await waitFor(`update to ${image} ended`, async () => {
      const s = await orchestratorStatus().catch(() => null);
      return s && (s.status === 'success' || s.status === 'error') ? s : null;
    }, 240_000, 500);
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.reached`, { force: true });
  }
}

async function killUpdater(): Promise<void> {
  process.kill((await engine.docker.getContainer('orchestrator_updater').inspect()).State.Pid, 'SIGKILL');
}

const names = async () => (await engine.docker.listContainers({ all: true })).map((c) => c.Names[0]!.slice(1)).sort();

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  images = await buildImages(engine.docker);
  await engine.docker.getImage(images.agent).tag({ repo: REPO, tag: 'v1' });
  lan = createLan('198.51.100.64/26');
  pki = makePki();
  const net = await engine.docker.createNetwork({ Name: 'agent_upd_net', Driver: 'bridge' });
  const gw = (await net.inspect()).IPAM?.Config?.[0]?.Gateway as string;
  cloud = new TestCloud(pki);
  await cloud.start(0, gw);
  const mtls = agentMtlsDir(pki, AGENT_ID);
  await engine.docker.createVolume({ Name: 'orchestrator-shared', Labels: LABELS('shared-volume') });
  const netmon = await engine.docker.createContainer({ name: 'autonomy_netmon', Image: images.netmon, Labels: LABELS('netmon'), Env: ['ORCH_NETMON_DEBOUNCE_MS=200'], HostConfig: { ...netmonHostConfig(), RestartPolicy: { Name: 'unless-stopped' } } });
  await netmon.start();
  const agent = await engine.docker.createContainer({
    name: 'orchestrator_agent',
    Image: `${REPO}:v1`,
    Labels: LABELS('orchestrator-agent'),
    Env: [`ORCH_CLOUD_URL=https://orch-cloud.test:${cloud.port}`, 'ORCH_MTLS_DIR=/root/.mtls', `ORCH_RUNTIME_IMAGE=${TEST_IMAGE}`, 'ORCH_RESYNC_INTERVAL_MS=2000', 'ORCH_NETMON_BOOT_WAIT_MS=1000', 'ORCH_UPDATE_GATE_S=40', `ORCH_TEST_UPDATER_PAUSE=/var/orchestrator/${PAUSE_FILE}`],
    HostConfig: {
      NetworkMode: 'agent_upd_net',
      ExtraHosts: [`orch-cloud.test:${gw}`],
      RestartPolicy: { Name: 'unless-stopped' },
      Binds: [`${engine.socketPath}:/var/run/docker.sock`, 'orchestrator-shared:/var/orchestrator', `${mtls}:/root/.mtls:ro`],
    },
  });
  await agent.start();
  oldAgentId = agent.id;
  await cloud.waitForAgent(60_000);
  const ack = await cloud.call('create_new_runtime', { correlation_id: 1, container_name: 'plc-upd', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.70', subnet: '255.255.255.192', gateway: '198.51.100.65' }] });
  assert.equal(ack.status, 'creating', JSON.stringify(ack));
  await waitFor('runtime running', async () => {
    const s = await cloud.call('get_device_status', { correlation_id: 2, device_id: 'plc-upd' });
    return s.status === 'success' && s.is_running === true;
  }, 60_000, 500);
});

after(async () => {
  lan?.remove();
  await cloud?.stop();
  if (engine) await engine.stop();
  pki?.remove();
});

test('an image that cannot be pulled (a registry on a closed loopback port): refused while pulling, nothing stopped', async () => {
  const before = await runtimeIdentity();
  const s = await update('127.0.0.1:1/orch-agent:nope');
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.step, 'pulling_images');
  assert.match(String(s.error), /^image 127\.0\.0\.1:1\/orch-agent:nope is not present and could not be pulled: /);
  assert.equal((await agentContainer()).Id, oldAgentId);
  assert.deepEqual((await names()).filter((n) => n.startsWith('orchestrator')), ['orchestrator_agent']);
  assert.deepEqual(await runtimeIdentity(), before);
});

test('an agent that exits at once fails the gate: the old agent (same container) comes back, the failure is reported and not retried', async () => {
  const badId = await derive('exits', ['ENTRYPOINT ["sh", "-c", "exit 3"]']);
  const before = await runtimeIdentity();
  const s = await update(`${REPO}:exits`);
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.operation, 'upgrade');
  assert.match(String(s.error), /^rolled back: the new agent exited with code 3$/);
  assert.equal(s.message, `Operation failed: ${String(s.error)}`);
  const a = await oneAgentRunning();
  assert.equal(a.Id, oldAgentId, 'the old agent container runs again');
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
  // The same image id again is refused at once (a cloud retrying in a loop does not loop the box).
  const again = await update(`${REPO}:exits`);
  assert.equal(again.status, 'error');
  assert.match(String(again.error), new RegExp(`failed before: the new agent exited with code 3$`));
  assert.match(String(again.error), new RegExp(badId.slice(7, 19)));
  assert.equal((await agentContainer()).Id, oldAgentId);
});

test('a new agent that never reaches the cloud fails the gate at ORCH_UPDATE_GATE_S: the old agent comes back', async () => {
  await derive('offline', ['ENTRYPOINT ["sh", "-c", "ORCH_CLOUD_URL=https://orch-cloud.test:1 exec node dist/main.js run"]']);
  const before = await runtimeIdentity();
  const s = await update(`${REPO}:offline`);
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.error, 'rolled back: the new agent was not ready within 40 s (state loaded, cloud and netmon connected)');
  // The new agent ran and took its trial (it wrote the step), but never reached the cloud to answer it.
  assert.equal(s.step, 'trial', (s.seen as string[]).join(' '));
  const a = await oneAgentRunning();
  assert.equal(a.Id, oldAgentId);
  assert.deepEqual(await runtimeIdentity(), before);
});

test('SIGKILL of the updater during the trial: Docker restarts it, it rolls back; the image is not recorded as failed', async () => {
  const v3 = await derive('v3', ['ENV AGENT_VERSION=v3-test']);
  const before = await runtimeIdentity();
  const shared = (await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint;
  const phase = () => {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(shared, 'update.json'), 'utf8')) as { phase: string; newImageId: string };
      return r.newImageId === v3 ? r.phase : null;
    } catch {
      return null;
    }
  };
  assert.equal((await cloud.call('upgrade_orchestrator', { correlation_id: 'k', image: `${REPO}:v3` })).status, 'accepted');
  await waitFor('trial', () => phase() === 'trial', 60_000, 50);
  const u = await engine.docker.getContainer('orchestrator_updater').inspect();
  process.kill(u.State.Pid, 'SIGKILL');
  const s = await waitFor('rolled back', async () => {
    const r = await orchestratorStatus().catch(() => null);
    return r && r.status === 'error' ? r : null;
  }, 120_000, 500);
  assert.equal(s.error, 'rolled back: the updater was interrupted during the trial');
  // Only a restarted updater (it no longer knows the candidate it made) rolls back for that reason.
  const a = await oneAgentRunning();
  assert.equal(a.Id, oldAgentId);
  assert.deepEqual(await runtimeIdentity(), before);
  const state = JSON.parse(fs.readFileSync(path.join(shared, 'state.json'), 'utf8')) as { agent: { failedUpdates?: { imageId: string }[] } };
  assert.ok(!(state.agent.failedUpdates ?? []).some((f) => f.imageId === v3), 'not recorded as a failed image');
});

test('SIGKILL of the updater before each step of a rollback: the old agent comes back all the same, the failure recorded once', async () => {
  const badId = await derive('exits4', ['ENTRYPOINT ["sh", "-c", "exit 4"]']);
  const before = await runtimeIdentity();
  const steps = ['rolling_back/removeCurrent', 'rolling_back/renameOldToCurrent', 'rolling_back/setCurrentPolicy', 'rolling_back/startCurrent', 'rolling_back/setPhase', 'rolled_back/finish'];
  const s = await updateWithFaults(`${REPO}:exits4`, steps, killUpdater);
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.error, 'rolled back: the new agent exited with code 4');
  const a = await oneAgentRunning();
  assert.equal(a.Id, oldAgentId);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
  const state = JSON.parse(fs.readFileSync(path.join(await sharedDir(), 'state.json'), 'utf8')) as { agent: { failedUpdates?: { imageId: string }[] } };
  assert.equal((state.agent.failedUpdates ?? []).filter((f) => f.imageId === badId).length, 1);
});

test('a rollback after the new agent left a newer state.json schema: the phase-1 snapshot is back, the old agent works (not refusing), the newer file kept aside', async () => {
  await derive('exits5', ['ENTRYPOINT ["sh", "-c", "exit 5"]']);
  const before = await runtimeIdentity();
  const shared = await sharedDir();
  const file = path.join(shared, 'state.json');
  // At the pause the candidate has exited and the old agent is stopped: the test writes what a newer agent would.
  const s = await updateWithFaults(`${REPO}:exits5`, ['rolling_back/removeCurrent'], async () => {
    assert.equal(fs.existsSync(path.join(shared, 'state.json.pre-update')), true, 'snapshotted in phase 1');
    const newer = { ...(JSON.parse(fs.readFileSync(file, 'utf8')) as object), schemaVersion: 2, newerAgentKey: 'trial' };
    fs.writeFileSync(file, JSON.stringify(newer));
    fs.writeFileSync(`${file}.bak`, JSON.stringify(newer));
    await killUpdater();
  });
  // Recording the rollback is a state.json write: an old agent in refusing mode could not have done it.
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.error, 'rolled back: the new agent exited with code 5');
  const a = await oneAgentRunning();
  assert.equal(a.Id, oldAgentId);
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.equal(state.schemaVersion, 1);
  assert.equal(state.newerAgentKey, undefined);
  assert.equal((JSON.parse(fs.readFileSync(path.join(shared, 'state.json.rolled-back'), 'utf8')) as Record<string, unknown>).newerAgentKey, 'trial');
  assert.equal(fs.existsSync(path.join(shared, 'state.json.pre-update')), false, 'the snapshot goes when the update ends');
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
});

test('a good update: the new version runs under orchestrator_agent with the old one\'s config, the old container is gone, runtimes untouched', async () => {
  const newId = await derive('v2', ['ENV AGENT_VERSION=v2-test']);
  const before = await runtimeIdentity();
  const old = await agentContainer();
  const s = await update(`${REPO}:v2`);
  assert.equal(s.status, 'success', JSON.stringify(s));
  assert.equal(s.step, 'done');
  assert.equal(typeof s.previous_version, 'string');
  assert.notEqual(s.previous_version, 'v2-test');
  const a = await oneAgentRunning();
  assert.equal(a.Image, newId);
  assert.notEqual(a.Id, oldAgentId);
  assert.deepEqual(a.HostConfig.Binds, old.HostConfig.Binds);
  assert.deepEqual(a.HostConfig.ExtraHosts, old.HostConfig.ExtraHosts);
  assert.ok(a.Config.Env.includes('ORCH_UPDATE_GATE_S=40') && a.Config.Env.includes('AGENT_VERSION=v2-test'), a.Config.Env.join(' '));
  const v = await cloud.call('get_orchestrator_version', { correlation_id: 'v' });
  assert.equal(v.orchestrator_version, 'v2-test');
  assert.equal(v.orchestrator_image_id, newId);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
  // The same image again: done at once, nothing swapped.
  const same = await update(`${REPO}:v2`);
  assert.equal(same.status, 'success');
  assert.equal((await agentContainer()).Id, a.Id);
});

test('SIGKILL of the updater before each step of a good update (but the trial): the new agent runs all the same, runtimes untouched', async () => {
  const newId = await derive('v4', ['ENV AGENT_VERSION=v4-test']);
  const before = await runtimeIdentity();
  const steps = [
    'prepared/renameCurrentToOld', 'prepared/setPhase',
    'stopping_old/stopOld', 'stopping_old/createCandidate', 'stopping_old/startTrial',
    'committing/setCurrentPolicy', 'committing/removeOld', 'committing/setPhase', 'committed/finish',
  ];
  const s = await updateWithFaults(`${REPO}:v4`, steps, killUpdater);
  assert.equal(s.status, 'success', JSON.stringify(s));
  assert.equal(s.previous_version, 'v2-test');
  const a = await oneAgentRunning();
  assert.equal(a.Image, newId);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
});

test('a power cut with the old agent stopped and none created, and one in committing: the box boots into the new agent, the runtime keeps its container and volume', async () => {
  const newId = await derive('v5', ['ENV AGENT_VERSION=v5-test']);
  const before = await runtimeIdentity();
  const vol = (await engine.docker.getContainer('plc-upd').inspect()).Mounts.find((m) => m.Type === 'volume');
  assert.ok(vol?.Source, 'the runtime has a data volume');
  fs.writeFileSync(path.join(vol.Source, 'power-cut-probe'), 'kept');
  const s = await updateWithFaults(`${REPO}:v5`, ['stopping_old/createCandidate', 'committing/setCurrentPolicy'], async () => {
    await powerCut(engine);
    await engine.resume();
  });
  assert.equal(s.status, 'success', JSON.stringify(s));
  const a = await oneAgentRunning();
  assert.equal(a.Image, newId);
  await waitFor('the runtime running again', async () => (await runtimeIdentity()).running, 60_000, 500).catch(async (e: Error) => {
    // Say why: the agent's status of the runtime and its last log lines, read once.
    const st = await cloud.call('get_device_status', { correlation_id: 'pr', device_id: 'plc-upd' }).catch((x: Error) => x.message);
    const log = (await engine.docker.getContainer('orchestrator_agent').logs({ stdout: true, stderr: true, tail: 8 })).toString();
    throw new Error(`${e.message}; status: ${JSON.stringify(st)}; agent log: ${log}`);
  });
  const after = await runtimeIdentity();
  // The power cut stopped the PLC (nothing else did): same container, MAC and volume, started again by the agent.
  assert.deepEqual([after.id, after.macs], [before.id, before.macs]);
  assert.equal(fs.readFileSync(path.join(vol.Source, 'power-cut-probe'), 'utf8'), 'kept');
  const v = await cloud.call('get_orchestrator_version', { correlation_id: 'pv' });
  assert.equal(v.orchestrator_version, 'v5-test');
});
