// Migration from the Python agent: its files are imported and its containers adopted (same container
// ids), their restart policy switched to `no`, and from then on managed like any other runtime.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let dataDir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;
const ids = new Map<string, string>();
const macs = new Map<string, string>();
const startedAt = new Map<string, string>();
/** The Python agent's files as the first start found them. */
const legacyFiles = new Map<string, string>();
const retired = () => fs.readdirSync(dataDir).filter((f) => f.startsWith('runtime_vnics.json.imported-'));

/** Creates a runtime the way the Python agent (HEAD) does: no labels, restart policy always. */
async function pythonStyleRuntime(name: string, ip: string): Promise<{ mac: string; internalIp: string }> {
  const mv = `macvlan_${lan.parent}_198.51.100.0_26`;
  const nets = await engine.docker.listNetworks({ filters: { name: [mv] } });
  if (!nets.some((n) => n.Name === mv)) {
    await engine.docker.createNetwork({ Name: mv, Driver: 'macvlan', Options: { parent: lan.parent }, IPAM: { Config: [{ Subnet: '198.51.100.0/26', Gateway: '198.51.100.1' }] } });
  }
  await engine.docker.createNetwork({ Name: `${name}_internal`, Driver: 'bridge', Internal: true });
  const c = await engine.docker.createContainer({ name, Image: `${TEST_IMAGE}:latest`, HostConfig: { RestartPolicy: { Name: 'always' }, NetworkMode: `${name}_internal` } });
  await c.start();
  await engine.docker.getNetwork(mv).connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv4Address: ip } } });
  const info = await c.inspect();
  ids.set(name, c.id);
  startedAt.set(name, info.State.StartedAt);
  return { mac: info.NetworkSettings.Networks[mv]!.MacAddress, internalIp: info.NetworkSettings.Networks[`${name}_internal`]!.IPAddress };
}

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  lan = createLan('198.51.100.0/26');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-migrate-'));
  const vnics: Record<string, unknown> = {};
  const clients: Record<string, unknown> = {};
  for (const [i, name] of ['plc-legacy-a', 'plc-legacy-b', 'plc-legacy-c'].entries()) {
    const ip = `198.51.100.${40 + i}`;
    const { mac, internalIp } = await pythonStyleRuntime(name, ip);
    macs.set(name, mac);
    vnics[name] =
      i === 0
        ? // What HEAD persists: the vNIC configs as received, annotated with the MAC the endpoint really got.
          [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip, subnet: '255.255.255.192', gateway: '198.51.100.1', mac_address: mac, _interface_type: 'ethernet', docker_network_name: `macvlan_${lan.parent}_198.51.100.0_26` }]
        : // What v1 persists: the configs as received, without the MAC Docker gave the endpoint.
          [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'manual', ip_address: `${ip}/26`, parent_subnet: '198.51.100.0/26', parent_gateway: '198.51.100.1' }];
    clients[name] = { ip: internalIp, name };
  }
  clients['plc-orphan'] = { ip: '198.18.9.9', name: 'plc-orphan' };
  legacyFiles.set('runtime_vnics.json', JSON.stringify(vnics, null, 2));
  legacyFiles.set('data/clients.json', JSON.stringify(clients, null, 4));
  fs.mkdirSync(path.join(dataDir, 'data'));
  for (const [f, text] of legacyFiles) fs.writeFileSync(path.join(dataDir, f), text);
  // No netmon here: adoption (which reads the MACs in the namespaces through netmon) waits out the boot wait.
  ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
});

after(async () => {
  await stopAgent?.();
  lan?.remove();
  await engine?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the Python agent runtimes are imported and their containers adopted, not re-created', async () => {
  assert.deepEqual(Object.keys(agent.store.state.runtimes).sort(), ['plc-legacy-a', 'plc-legacy-b', 'plc-legacy-c'], 'a registry entry without vNIC configs is not imported');
  await waitFor('adopted and converged', async () => {
    const all = Object.values(agent.store.state.runtimes).every((r) => typeof r.adoption === 'object' && r.status.phase === 'Running' && r.status.observedGeneration === 1);
    return all && (await agent.controller.dryRun()).length === 0;
  }, 30_000);
  for (const [name, id] of ids) {
    const c = await engine.docker.getContainer(name).inspect();
    assert.equal(c.Id, id, `${name} kept its container`);
    assert.equal(c.HostConfig.RestartPolicy?.Name, 'no');
    assert.equal(c.State.Running, true);
    // The PLC keeps its identity on the LAN (v1 never recorded the MAC Docker gave it) and is not restarted.
    const mv = `macvlan_${lan.parent}_198.51.100.0_26`;
    assert.equal(c.NetworkSettings.Networks[mv]!.MacAddress, macs.get(name), `${name} kept its MAC`);
    assert.equal(agent.store.state.runtimes[name]!.spec.vnics[0]!.mac, macs.get(name), `${name}: the MAC it had is its spec's`);
    assert.equal(agent.store.state.runtimes[name]!.spec.vnics[0]!.ip, c.NetworkSettings.Networks[mv]!.IPAddress);
    assert.equal(c.State.StartedAt, startedAt.get(name), `${name} was not restarted`);
    assert.equal(agent.store.state.runtimes[name]!.status.lastError, null);
  }
  // Imported and on disk: the files are retired (kept under another name), never read again.
  assert.equal(fs.existsSync(path.join(dataDir, 'runtime_vnics.json')), false);
  assert.equal(fs.existsSync(path.join(dataDir, 'data', 'clients.json')), false);
  assert.equal(retired().length, 1);
  assert.equal(fs.readFileSync(path.join(dataDir, retired()[0]!), 'utf8'), legacyFiles.get('runtime_vnics.json'));
});

test('adopted runtimes are managed like any other: stop, start, delete', async () => {
  await setLifecycle(agent.store, 'plc-legacy-a', 'stop');
  await waitFor('stopped', async () => !(await engine.docker.getContainer('plc-legacy-a').inspect()).State.Running);
  await setLifecycle(agent.store, 'plc-legacy-a', 'start');
  await waitFor('running', async () => (await engine.docker.getContainer('plc-legacy-a').inspect()).State.Running);
  assert.equal((await engine.docker.getContainer('plc-legacy-a').inspect()).Id, ids.get('plc-legacy-a'));
  await markForDeletion(agent.store, 'plc-legacy-a');
  await waitFor('deleted', () => !agent.store.state.runtimes['plc-legacy-a'], 30_000);
  const names = (await engine.docker.listContainers({ all: true })).map((c) => c.Names[0]).sort();
  assert.deepEqual(names, ['/plc-legacy-b', '/plc-legacy-c']);
  assert.ok(!(await engine.docker.listNetworks()).some((n) => n.Name === 'plc-legacy-a_internal'));
});

test('state.json and .bak lost on a migrated box: rebuilt from the container labels; the Python-era files resurrect nothing', async () => {
  // plc-legacy-c stays adopted (unlabelled: Docker cannot label it); plc-legacy-b moves to .45 (re-created, labelled) and is stopped; plc-legacy-a was deleted above.
  const b = agent.store.state.runtimes['plc-legacy-b']!.spec;
  const moved = { ...b, vnics: [{ ...b.vnics[0]!, ip: '198.51.100.45' }] };
  assert.equal(await putRuntime(agent.store, moved, { allowUpdate: true }), 'updated');
  const mv = `macvlan_${lan.parent}_198.51.100.0_26`;
  await waitFor('re-created at .45', async () => {
    const c = await engine.docker.getContainer('plc-legacy-b').inspect();
    return c.State.Running && c.NetworkSettings.Networks[mv]?.IPAddress === '198.51.100.45' && agent.store.state.runtimes['plc-legacy-b']!.status.phase === 'Running';
  }, 30_000, 200);
  await setLifecycle(agent.store, 'plc-legacy-b', 'stop');
  await waitFor('stopped', async () => !(await engine.docker.getContainer('plc-legacy-b').inspect()).State.Running, 30_000, 200);
  const id = (await engine.docker.getContainer('plc-legacy-b').inspect()).Id;
  const adopted = { spec: agent.store.state.runtimes['plc-legacy-c']!.spec, c: await engine.docker.getContainer('plc-legacy-c').inspect() };
  await stopAgent();
  // The files where a migration by an agent before #26 left them (it never retired them), and the state lost.
  for (const [f, text] of legacyFiles) fs.writeFileSync(path.join(dataDir, f), text);
  fs.writeFileSync(path.join(dataDir, 'state.json'), '{"torn');
  fs.writeFileSync(path.join(dataDir, 'state.json.bak'), 'garbage');
  // No netmon: the unlabelled one is adopted again once the (short) boot wait is over.
  ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
  await waitFor('rebuilt', () => !agent.store.degraded, 15_000, 50);
  assert.equal(agent.store.source, 'containers');
  assert.deepEqual(Object.keys(agent.store.state.runtimes).sort(), ['plc-legacy-b', 'plc-legacy-c'], 'plc-legacy-a, deleted long ago, is not created again');
  assert.deepEqual(agent.store.state.runtimes['plc-legacy-b']!.spec, moved, 'the spec its label says');
  assert.equal(agent.store.state.runtimes['plc-legacy-b']!.running, false, 'running = what the container does now');
  // The adopted one, found by the name the (retired) files give: taken back from what it is.
  const c = await waitFor('plc-legacy-c adopted again', () => {
    const r = agent.store.state.runtimes['plc-legacy-c']!;
    return typeof r.adoption === 'object' ? r : null;
  }, 15_000, 50);
  for (const k of ['parentInterface', 'mode', 'ip', 'mac'] as const) assert.equal(c.spec.vnics[0]![k], adopted.spec.vnics[0]![k], `plc-legacy-c keeps its ${k}`);
  assert.deepEqual(c.adoption, { containerId: adopted.c.Id, specHash: (c.adoption as { specHash: string }).specHash });
  assert.equal(c.running, true);
  await new Promise((r) => setTimeout(r, 3000)); // three resync intervals for a wrong step to happen
  assert.deepEqual(await agent.controller.dryRun(), []);
  const b2 = await engine.docker.getContainer('plc-legacy-b').inspect();
  assert.equal(b2.Id, id, 'not re-created');
  assert.equal(b2.State.Running, false, 'not started');
  const c2 = await engine.docker.getContainer('plc-legacy-c').inspect();
  assert.equal(c2.Id, adopted.c.Id);
  assert.equal(c2.State.StartedAt, adopted.c.State.StartedAt, 'not restarted');
  assert.deepEqual((await engine.docker.listContainers({ all: true })).map((x) => x.Names[0]).sort(), ['/plc-legacy-b', '/plc-legacy-c']);
  // Managed again: restart policy `no`, so only the agent can start it after a kill.
  await engine.docker.getContainer('plc-legacy-c').kill();
  await waitFor('plc-legacy-c started again', async () => {
    const s = (await engine.docker.getContainer('plc-legacy-c').inspect()).State;
    return s.Running && s.StartedAt !== adopted.c.State.StartedAt;
  }, 30_000, 200);
  // The agent has a state of its own: the files left in place are retired now.
  assert.equal(fs.existsSync(path.join(dataDir, 'runtime_vnics.json')), false);
  assert.equal(retired().length, 2);
});
