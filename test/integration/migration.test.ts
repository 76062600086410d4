// Migration from the Python agent: its files are imported and its containers adopted (same container
// ids), their restart policy switched to `no`, and from then on managed like any other runtime.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { markForDeletion, setLifecycle } from '../../src/store/desired-state.js';
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
  for (const [i, name] of ['plc-legacy-a', 'plc-legacy-b'].entries()) {
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
  fs.writeFileSync(path.join(dataDir, 'runtime_vnics.json'), JSON.stringify(vnics, null, 2));
  fs.mkdirSync(path.join(dataDir, 'data'));
  fs.writeFileSync(path.join(dataDir, 'data', 'clients.json'), JSON.stringify(clients, null, 4));
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
  assert.deepEqual(Object.keys(agent.store.state.runtimes).sort(), ['plc-legacy-a', 'plc-legacy-b'], 'a registry entry without vNIC configs is not imported');
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
});

test('adopted runtimes are managed like any other: stop, start, delete', async () => {
  await setLifecycle(agent.store, 'plc-legacy-a', 'stop');
  await waitFor('stopped', async () => !(await engine.docker.getContainer('plc-legacy-a').inspect()).State.Running);
  await setLifecycle(agent.store, 'plc-legacy-a', 'start');
  await waitFor('running', async () => (await engine.docker.getContainer('plc-legacy-a').inspect()).State.Running);
  assert.equal((await engine.docker.getContainer('plc-legacy-a').inspect()).Id, ids.get('plc-legacy-a'));
  await markForDeletion(agent.store, 'plc-legacy-a');
  await waitFor('deleted', () => !agent.store.state.runtimes['plc-legacy-a'], 30_000);
  const names = (await engine.docker.listContainers({ all: true })).map((c) => c.Names[0]);
  assert.deepEqual(names, ['/plc-legacy-b']);
  assert.ok(!(await engine.docker.listNetworks()).some((n) => n.Name === 'plc-legacy-a_internal'));
});
