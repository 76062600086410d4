// The reconciler against a real private Docker engine, with veth "LANs" in network namespaces.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { dataVolumeName, internalNetworkName, LABEL, macvlanNetworkName } from '../../src/domain/names.js';
import { deriveMac, normalizeCreateRequest, type RuntimeSpec } from '../../src/domain/runtime-spec.js';
import type { Agent } from '../../src/agent.js';
import { labelledObjects, startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildBusyboxImage, buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let dataDir: string;

const SUBNET = '198.51.100.0/26';
const spec = (name: string, vnic: Record<string, unknown>, version?: string): RuntimeSpec => {
  const r = normalizeCreateRequest({
    container_name: name,
    ...(version ? { runtime_version: version } : {}),
    vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', subnet: SUBNET, ...vnic }],
  });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
const status = (name: string) => agent.store.state.runtimes[name]?.status;
const converged = (name: string, phase = 'Running') => {
  const r = agent.store.state.runtimes[name];
  return r && r.status.phase === phase && r.status.observedGeneration === r.generation ? r : null;
};
const inspect = (name: string) => engine.docker.getContainer(name).inspect();

/** HTTPS GET from the LAN namespace, as a PLC engineer's laptop on the plant LAN would. */
function getFromLan(ip: string, apiPath: string): { status: number; body: string } {
  const js = `require('https').get({host:'${ip}',port:8443,path:'${apiPath}',rejectUnauthorized:false,timeout:5000},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>{console.log(JSON.stringify({status:r.statusCode,body:b}));process.exit(0)})}).on('error',e=>{console.log(JSON.stringify({status:0,body:e.message}));process.exit(0)})`;
  return JSON.parse(lan.exec([process.execPath, '-e', js])) as { status: number; body: string };
}

describe('runtime reconciler on a real engine', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    await buildBusyboxImage(engine.docker, TEST_IMAGE, 'crash', ['/bin/sh', '-c', 'sleep 0.2; exit 3']);
    lan = createLan(SUBNET);
    ({ agent, stop: stopAgent, dataDir } = await startAgent(engine));
  });

  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
  });

  test('create → running on its MACVLAN and internal networks, reachable from the LAN', async () => {
    await putRuntime(agent.store, spec('plc-a', { ip: '198.51.100.10' }));
    await waitFor('plc-a running', () => converged('plc-a'));
    const c = await inspect('plc-a');
    const mv = macvlanNetworkName(lan.parent, SUBNET);
    assert.deepEqual(Object.keys(c.NetworkSettings.Networks).sort(), [mv, internalNetworkName('plc-a')].sort());
    assert.equal(c.NetworkSettings.Networks[mv]!.IPAddress, '198.51.100.10');
    assert.equal(c.NetworkSettings.Networks[mv]!.MacAddress, deriveMac('plc-a', 'eth0'));
    assert.equal(c.HostConfig.RestartPolicy?.Name, 'no');
    assert.deepEqual(c.HostConfig.CapAdd, ['SYS_NICE']);
    // A bounded log (ORCH_CONTAINER_LOG's default): json-file keeps growing without max-size.
    assert.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    assert.equal(c.Config.Labels[LABEL.managed], 'true');
    assert.equal(c.Config.Labels[LABEL.device], 'plc-a');
    assert.ok(c.Mounts.some((m) => m.Name === dataVolumeName('plc-a') && m.Destination === '/var/run/runtime'));
    const st = status('plc-a')!;
    assert.deepEqual(st.endpoints[mv], { ip: '198.51.100.10', mac: deriveMac('plc-a', 'eth0') });
    assert.ok(st.conditions.every((x) => x.status === 'True'), JSON.stringify(st.conditions));
    // The spec travels with the container (CONTRACT §8): state can be rebuilt from it. (ulimits: ulimits.test.ts.)
    assert.deepEqual(JSON.parse(c.Config.Labels[LABEL.spec]!), agent.store.state.runtimes['plc-a']!.spec);
    await agent.controller.settled();
    assert.deepEqual(await agent.controller.dryRun(), []);
    // Running is not listening: the stand-in's server comes up after its process starts (refused once under load).
    const r = await waitFor('plc-a answers from the LAN', () => {
      const x = getFromLan('198.51.100.10', '/api/ping');
      return x.status === 200 ? x : null;
    }, 20_000, 500).catch(() => getFromLan('198.51.100.10', '/api/ping'));
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { status: 'PONG' });
    // The state file on disk says the same.
    const onDisk = JSON.parse(fs.readFileSync(`${dataDir}/state.json`, 'utf8')) as { runtimes: Record<string, { status: { phase: string } }> };
    assert.equal(onDisk.runtimes['plc-a']!.status.phase, 'Running');
  });

  test('a requested MAC is the one on the MACVLAN endpoint', async () => {
    await putRuntime(agent.store, spec('plc-mac', { ip: '198.51.100.12', mac: '02:AA:BB:00:00:01' }));
    await waitFor('plc-mac running', () => converged('plc-mac'));
    const c = await inspect('plc-mac');
    assert.equal(c.NetworkSettings.Networks[macvlanNetworkName(lan.parent, SUBNET)]!.MacAddress, '02:aa:bb:00:00:01');
  });

  test('two runtimes share one MACVLAN network', async () => {
    const nets = await engine.docker.listNetworks({ filters: { driver: ['macvlan'] } });
    assert.equal(nets.length, 1);
    const n = await engine.docker.getNetwork(nets[0]!.Id).inspect();
    assert.equal(Object.keys(n.Containers as object).length, 2);
  });

  test('a spec change re-creates the container and keeps the data volume', async () => {
    const before = await inspect('plc-a');
    const exec = await engine.docker.getContainer('plc-a').exec({ Cmd: ['/bin/sh', '-c', 'echo kept > /var/run/runtime/marker'] });
    await exec.start({});
    await waitFor('marker written', async () => (await exec.inspect()).ExitCode === 0);
    await putRuntime(agent.store, spec('plc-a', { ip: '198.51.100.11' }), { allowUpdate: true });
    await waitFor('plc-a re-created', () => converged('plc-a') && status('plc-a')!.observedGeneration === 2);
    const after = await inspect('plc-a');
    assert.notEqual(after.Id, before.Id);
    assert.equal(after.NetworkSettings.Networks[macvlanNetworkName(lan.parent, SUBNET)]!.IPAddress, '198.51.100.11');
    const check = await engine.docker.getContainer('plc-a').exec({ Cmd: ['/bin/cat', '/var/run/runtime/marker'], AttachStdout: true });
    const stream = await check.start({});
    const out = await new Promise<string>((resolve) => {
      let b = '';
      stream.on('data', (d: Buffer) => (b += d.toString()));
      stream.on('end', () => resolve(b));
    });
    assert.match(out, /kept/);
  });

  test('stop, start and restart act on the same container', async () => {
    const id = (await inspect('plc-a')).Id;
    await setLifecycle(agent.store, 'plc-a', 'stop');
    await waitFor('plc-a stopped', async () => converged('plc-a', 'Stopped') && !(await inspect('plc-a')).State.Running);
    assert.equal(status('plc-a')!.conditions.find((c) => c.type === 'Running')!.reason, 'Stopped');
    await setLifecycle(agent.store, 'plc-a', 'start');
    await waitFor('plc-a running again', async () => converged('plc-a') && (await inspect('plc-a')).State.Running);
    const started = (await inspect('plc-a')).State.StartedAt;
    await setLifecycle(agent.store, 'plc-a', 'restart');
    await waitFor('plc-a restarted', async () => (await inspect('plc-a')).State.StartedAt !== started && status('plc-a')!.restartCount === 1);
    assert.equal((await inspect('plc-a')).Id, id);
    await agent.controller.settled();
    assert.deepEqual(await agent.controller.dryRun(), []);
  });

  test('a container removed behind the agent\'s back comes back', async () => {
    const old = (await inspect('plc-a')).Id;
    await engine.docker.getContainer('plc-a').remove({ force: true });
    await waitFor('plc-a back', async () => {
      const c = await inspect('plc-a');
      return c.Id !== old && c.State.Running;
    }, 15_000);
  });

  test('a runtime that keeps crashing backs off and says so', async () => {
    await putRuntime(agent.store, spec('plc-crash', { ip: '198.51.100.20' }, 'crash'));
    const st = await waitFor('crash loop reported', () => {
      const s = status('plc-crash');
      return s?.conditions.find((c) => c.type === 'Running' && c.reason === 'CrashLoopBackOff') && s.backoffUntil ? s : null;
    });
    assert.equal(st.phase, 'Failed');
    assert.ok(st.crashCount >= 1);
    const wait = Date.parse(st.backoffUntil!) - Date.now();
    assert.ok(wait > 5_000 && wait <= 10_500, `first backoff about 10 s, got ${wait} ms`);
    await agent.controller.settled();
    const plan = await agent.controller.dryRun();
    assert.deepEqual(plan.filter((s) => s.device === 'plc-crash').map((s) => s.action), ['wait']);
  });

  test('a missing image is ImageReady=False PullFailed, not a crash', async () => {
    await putRuntime(agent.store, spec('plc-noimg', { ip: '198.51.100.21' }, 'no-such-tag'));
    const st = await waitFor('pull failure reported', () => {
      const s = status('plc-noimg');
      return s?.conditions.find((c) => c.type === 'ImageReady' && c.status === 'False' && c.reason === 'PullFailed') ? s : null;
    });
    assert.match(st.lastError ?? '', /no-such-tag/);
  });

  test('deletion leaves no object carrying the runtime\'s label', async () => {
    for (const n of ['plc-crash', 'plc-noimg', 'plc-mac']) await markForDeletion(agent.store, n);
    await waitFor('records gone', () => ['plc-crash', 'plc-noimg', 'plc-mac'].every((n) => !agent.store.state.runtimes[n]), 40_000);
    for (const n of ['plc-crash', 'plc-noimg', 'plc-mac']) assert.deepEqual(await labelledObjects(engine, n), []);
    assert.ok((await labelledObjects(engine, 'plc-a')).length > 0);
  });

  test('an invalid desired state is refused and changes nothing', async () => {
    await agent.controller.settled();
    const file = fs.readFileSync(`${dataDir}/state.json`, 'utf8');
    const objects = await labelledObjects(engine);
    const bad = normalizeCreateRequest({ container_name: 'plc-bad', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.5', subnet: SUBNET }] });
    assert.equal(bad.ok, false);
    await assert.rejects(putRuntime(agent.store, spec('plc-dup-mac', { ip: '198.51.100.30', mac: deriveMac('plc-a', 'eth0') })), /already in use by plc-a/);
    await assert.rejects(agent.store.update('desired', (s) => void (s.runtimes['plc-a']!.spec.vnics = [])), /vnics/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fs.readFileSync(`${dataDir}/state.json`, 'utf8'), file);
    assert.deepEqual(await labelledObjects(engine), objects);
  });

  test('deleting the last runtime removes its MACVLAN network too', async () => {
    await markForDeletion(agent.store, 'plc-a');
    await waitFor('everything gone', async () => (await labelledObjects(engine)).length === 0 && Object.keys(agent.store.state.runtimes).length === 0, 40_000);
    assert.deepEqual(await labelledObjects(engine), []);
  });
});
