// The netmon swap of a self-update (docs/updates.md, "Netmon") on a real engine: the shipped agent and
// netmon images (built by the harness), netmon images derived from the shipped one in the test only (another
// AGENT_VERSION, so another image id; one that exits at once). The agent runs in its container as installed,
// beside `autonomy_netmon`, over mTLS to a test cloud; upgrade_orchestrator names `netmon_image`. Each case
// checks that the runtime container keeps its id, StartedAt and MAC, and which netmon runs at the end.
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
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { agentMtlsDir, makePki, TestCloud, type Pki } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

const TEST_IMAGE = 'orch-test/openplc-runtime';
const AGENT_ID = 'agent-nmu-1';
const AGENT_REPO = 'orch-test/agent';
const NETMON_REPO = 'orch-test/netmon';
const PAUSE_FILE = 'updater-pause';
const LABELS = (role: string) => ({ 'edge.autonomy.role': role, 'edge.autonomy.managed': 'true' });
let engine: Engine;
let lan: Lan;
let pki: Pki;
let cloud: TestCloud;
let images: BuiltImages;

/** An image FROM a built one with a few Dockerfile lines more, tagged `<repo>:<tag>`; returns its id. */
async function derive(from: string, ref: string, lines: string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-derive-'));
  try {
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [`FROM ${from}`, ...lines].join('\n') + '\n');
    const stream = await engine.docker.buildImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, { t: ref });
    await new Promise<void>((resolve, reject) =>
      engine.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err ?? out.find((o) => o.error) ? reject(err ?? new Error(out.find((o) => o.error)!.error)) : resolve())),
    );
    return (await engine.docker.getImage(ref).inspect()).Id;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runtimeIdentity() {
  const c = await engine.docker.getContainer('plc-nmu').inspect();
  const macs = Object.entries(c.NetworkSettings.Networks).filter(([n]) => n.startsWith('macvlan_')).map(([, e]) => e.MacAddress);
  return { id: c.Id, startedAt: c.State.StartedAt, running: c.State.Running, macs };
}

const names = async () => (await engine.docker.listContainers({ all: true })).map((c) => c.Names[0]!.slice(1)).sort();
const inspect = (name: string) => engine.docker.getContainer(name).inspect();
const orchestratorStatus = () => cloud.call('get_device_status', { correlation_id: 'st', device_id: '__orchestrator__' });
const sharedDir = async () => (await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint;

/** After a swap ended: one netmon, running under unless-stopped, and one agent. */
async function oneNetmonRunning(): Promise<Docker.ContainerInspectInfo> {
  const all = await names();
  assert.deepEqual(all.filter((n) => n.startsWith('autonomy_netmon')), ['autonomy_netmon']);
  assert.deepEqual(all.filter((n) => n.startsWith('orchestrator')), ['orchestrator_agent']);
  const n = await inspect('autonomy_netmon');
  assert.equal(n.State.Running, true);
  assert.equal(n.HostConfig.RestartPolicy?.Name, 'unless-stopped', 'its restart policy');
  return n;
}

/** Orders the update and waits until it ended as the cloud sees it; `pause`: keys for ORCH_TEST_UPDATER_PAUSE, `fault` at each. */
async function update(order: Record<string, unknown>, pause: string[] = [], fault?: () => Promise<void>): Promise<Record<string, unknown>> {
  const file = path.join(await sharedDir(), PAUSE_FILE);
  fs.rmSync(`${file}.reached`, { force: true });
  if (pause.length) fs.writeFileSync(file, pause.join('\n') + '\n');
  try {
    const ack = await cloud.call('upgrade_orchestrator', { correlation_id: `u-${JSON.stringify(order)}`, ...order });
    assert.equal(ack.status, 'accepted', JSON.stringify(ack));
    for (const key of pause) {
      await waitFor(`paused at ${key}`, () => fs.existsSync(`${file}.reached`) && fs.readFileSync(`${file}.reached`, 'utf8').split('\n').includes(key), 120_000, 100);
      await fault!();
    }
    const seen = new Set<string>();
    const end = await waitFor('the update ended', async () => {
      const s = await orchestratorStatus().catch(() => null); // while an agent restarts nobody answers
      if (s) seen.add(`${String(s.status)}/${String(s.step)}`);
      return s && (s.status === 'success' || s.status === 'error') ? s : null;
    }, 240_000, 500);
    return { ...end, seen: [...seen] };
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.reached`, { force: true });
  }
}

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  images = await buildImages(engine.docker);
  await engine.docker.getImage(images.agent).tag({ repo: AGENT_REPO, tag: 'v1' });
  await engine.docker.getImage(images.netmon).tag({ repo: NETMON_REPO, tag: 'v1' });
  lan = createLan('198.51.100.128/26');
  pki = makePki();
  const net = await engine.docker.createNetwork({ Name: 'agent_nmu_net', Driver: 'bridge' });
  const gw = (await net.inspect()).IPAM?.Config?.[0]?.Gateway as string;
  cloud = new TestCloud(pki);
  await cloud.start(0, gw);
  const mtls = agentMtlsDir(pki, AGENT_ID);
  await engine.docker.createVolume({ Name: 'orchestrator-shared', Labels: LABELS('shared-volume') });
  const netmon = await engine.docker.createContainer({ name: 'autonomy_netmon', Image: `${NETMON_REPO}:v1`, Labels: LABELS('netmon'), Env: ['ORCH_NETMON_DEBOUNCE_MS=200'], HostConfig: { ...netmonHostConfig(), RestartPolicy: { Name: 'unless-stopped' } } });
  await netmon.start();
  const agent = await engine.docker.createContainer({
    name: 'orchestrator_agent',
    Image: `${AGENT_REPO}:v1`,
    Labels: LABELS('orchestrator-agent'),
    Env: [`ORCH_CLOUD_URL=https://orch-cloud.test:${cloud.port}`, 'ORCH_MTLS_DIR=/root/.mtls', `ORCH_RUNTIME_IMAGE=${TEST_IMAGE}`, 'ORCH_RESYNC_INTERVAL_MS=2000', 'ORCH_NETMON_BOOT_WAIT_MS=1000', 'ORCH_UPDATE_GATE_S=40', `ORCH_TEST_UPDATER_PAUSE=/var/orchestrator/${PAUSE_FILE}`],
    HostConfig: {
      NetworkMode: 'agent_nmu_net',
      ExtraHosts: [`orch-cloud.test:${gw}`],
      RestartPolicy: { Name: 'unless-stopped' },
      Binds: [`${engine.socketPath}:/var/run/docker.sock`, 'orchestrator-shared:/var/orchestrator', `${mtls}:/root/.mtls:ro`],
    },
  });
  await agent.start();
  await cloud.waitForAgent(60_000);
  const ack = await cloud.call('create_new_runtime', { correlation_id: 1, container_name: 'plc-nmu', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.134', subnet: '255.255.255.192', gateway: '198.51.100.129' }] });
  assert.equal(ack.status, 'creating', JSON.stringify(ack));
  await waitFor('runtime running', async () => {
    const s = await cloud.call('get_device_status', { correlation_id: 2, device_id: 'plc-nmu' });
    return s.status === 'success' && s.is_running === true;
  }, 60_000, 500);
});

after(async () => {
  lan?.remove();
  await cloud?.stop();
  if (engine) await engine.stop();
  pki?.remove();
});

test('a netmon image that cannot be pulled refuses the whole order in phase 1: neither the agent nor netmon stopped', async () => {
  await derive(images.agent, `${AGENT_REPO}:v2`, ['ENV AGENT_VERSION=v2-test']);
  const [agentBefore, netmonBefore, before] = [await inspect('orchestrator_agent'), await inspect('autonomy_netmon'), await runtimeIdentity()];
  const s = await update({ image: `${AGENT_REPO}:v2`, netmon_image: '127.0.0.1:1/orch-netmon:nope' });
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.step, 'pulling_images');
  assert.match(String(s.error), /^image 127\.0\.0\.1:1\/orch-netmon:nope is not present and could not be pulled: /);
  assert.equal((await inspect('orchestrator_agent')).Id, agentBefore.Id);
  assert.equal((await oneNetmonRunning()).Id, netmonBefore.Id);
  assert.deepEqual(await runtimeIdentity(), before);
});

test('a new netmon that exits at once fails the gate: the old netmon container comes back, the image is recorded and refused when asked again', async () => {
  const badId = await derive(images.netmon, `${NETMON_REPO}:exits`, ['ENTRYPOINT ["sh", "-c", "exit 4"]']);
  const [agentBefore, netmonBefore, before] = [await inspect('orchestrator_agent'), await inspect('autonomy_netmon'), await runtimeIdentity()];
  // A netmon-only order: the agent's image is its own, so the running agent swaps netmon.
  const s = await update({ image: `${AGENT_REPO}:v1`, netmon_image: `${NETMON_REPO}:exits` });
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.step, 'upgrading_netmon');
  assert.equal(s.error, 'netmon rolled back: the new netmon exited with code 4');
  assert.equal(s.message, `Operation failed: ${String(s.error)}`);
  assert.equal((await oneNetmonRunning()).Id, netmonBefore.Id, 'the old netmon container runs again');
  assert.equal((await inspect('orchestrator_agent')).Id, agentBefore.Id);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
  const again = await update({ image: `${AGENT_REPO}:v1`, netmon_image: `${NETMON_REPO}:exits` });
  assert.equal(again.status, 'error');
  assert.equal(again.step, 'pulling_images', 'refused in phase 1');
  assert.match(String(again.error), new RegExp(`^netmon image ${badId.slice(7, 19)} failed before: the new netmon exited with code 4$`));
  assert.equal((await oneNetmonRunning()).Id, netmonBefore.Id);
});

test('the agent SIGKILLed during the netmon trial: restarted by Docker, it rolls back to the old netmon; the image is not recorded as failed', async () => {
  await derive(images.netmon, `${NETMON_REPO}:n2`, ['ENV AGENT_VERSION=n2-test']);
  const [netmonBefore, before, restarts] = [await inspect('autonomy_netmon'), await runtimeIdentity(), (await inspect('orchestrator_agent')).RestartCount];
  const kill = async () => void process.kill((await inspect('orchestrator_agent')).State.Pid, 'SIGKILL');
  const s = await update({ image: `${AGENT_REPO}:v1`, netmon_image: `${NETMON_REPO}:n2` }, ['netmon:trial/gate'], kill);
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.equal(s.error, 'netmon rolled back: the agent was interrupted during the netmon trial');
  assert.equal((await inspect('orchestrator_agent')).RestartCount, restarts + 1, 'the agent was killed and restarted by Docker');
  // Not recorded as failed: the next case swaps to this same image.
  assert.equal((await oneNetmonRunning()).Id, netmonBefore.Id);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
});

test('a good update of both: the new agent commits, then swaps netmon to the new image under autonomy_netmon; the old ones are gone, runtimes untouched', async () => {
  const agentNew = (await engine.docker.getImage(`${AGENT_REPO}:v2`).inspect()).Id;
  const netmonNew = (await engine.docker.getImage(`${NETMON_REPO}:n2`).inspect()).Id;
  const [agentBefore, netmonBefore, before] = [await inspect('orchestrator_agent'), await inspect('autonomy_netmon'), await runtimeIdentity()];
  const s = await update({ image: `${AGENT_REPO}:v2`, netmon_image: `${NETMON_REPO}:n2` });
  assert.equal(s.status, 'success', JSON.stringify(s));
  assert.equal(s.step, 'done');
  assert.equal(s.netmon_image, `${NETMON_REPO}:n2`);
  assert.ok((s.seen as string[]).includes('upgrading/upgrading_netmon'), (s.seen as string[]).join(' '));
  const n = await oneNetmonRunning();
  assert.equal(n.Image, netmonNew);
  assert.notEqual(n.Id, netmonBefore.Id);
  assert.ok(n.Config.Env.includes('AGENT_VERSION=n2-test') && n.Config.Env.includes('ORCH_NETMON_DEBOUNCE_MS=200'), n.Config.Env.join(' '));
  assert.deepEqual([n.HostConfig.NetworkMode, n.HostConfig.PidMode, n.HostConfig.Binds], [netmonBefore.HostConfig.NetworkMode, netmonBefore.HostConfig.PidMode, netmonBefore.HostConfig.Binds]);
  const a = await inspect('orchestrator_agent');
  assert.equal(a.Image, agentNew);
  assert.notEqual(a.Id, agentBefore.Id);
  assert.deepEqual(await runtimeIdentity(), before, 'the runtime container was not touched');
  // The same pair again: done at once, nothing swapped.
  const same = await update({ image: `${AGENT_REPO}:v2`, netmon_image: `${NETMON_REPO}:n2` });
  assert.equal(same.status, 'success', JSON.stringify(same));
  assert.equal((await inspect('autonomy_netmon')).Id, n.Id);
  assert.equal((await inspect('orchestrator_agent')).Id, a.Id);
});
