// The MAC promise on the engine under test (run on both generations, ORCH_TEST_ENGINE): a runtime with
// two MACVLAN vNICs on two parents shows both promised MACs to its LANs, also after a re-attach, and
// get_device_status reports the MAC the namespace has.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import { deriveMac, normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { countDockerCalls, startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonProcess } from '../support/netmon-process.js';
import { ENGINE_KIND, startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const REQUESTED = '02:aa:bb:cc:00:01';
let engine: Engine;
let lanA: Lan;
let lanB: Lan;
let netmon: NetmonProcess;
let dir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;
let calls: { readonly count: number } = { count: 0 };

/** What a host on the LAN resolves `addr` to, after talking to it (ARP). */
function lanSees(lan: Lan, addr: string): string {
  lan.exec(['ip', 'neigh', 'flush', 'all']);
  const js = `require('https').get({host:'${addr}',port:8443,path:'/api/ping',rejectUnauthorized:false,timeout:5000},r=>{console.log(r.statusCode)}).on('error',e=>console.log(e.message))`;
  // Running is not listening: a refused connect (the stand-in's server not up yet, under load) is tried
  // again for up to 20 s; any other answer counts at once.
  let answer = lan.exec([process.execPath, '-e', js]).trim();
  for (let i = 0; i < 40 && /ECONNREFUSED/.test(answer); i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    answer = lan.exec([process.execPath, '-e', js]).trim();
  }
  assert.equal(answer, '200', `the runtime answers on ${addr}`);
  return /lladdr (\S+)/.exec(lan.exec(['ip', 'neigh', 'show', addr]))?.[1] ?? '';
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-mac-'));
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  lanA = createLan('198.51.100.64/26');
  lanB = createLan('203.0.113.0/26');
  ip('addr', 'add', '198.51.100.125/26', 'dev', lanA.parent);
  netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), 200);
  await netmon.start();
  ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_SOCKET: netmon.socketPath, ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_HEARTBEAT_INTERVAL_MS: '3600000' }));
  calls = countDockerCalls(agent);
});

after(async () => {
  await stopAgent?.();
  await netmon?.stop();
  lanA?.remove();
  lanB?.remove();
  await engine?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test(`two MACVLAN vNICs on two parents: both LANs see the promised MACs (${ENGINE_KIND})`, async () => {
  const r = normalizeCreateRequest({
    container_name: 'plc-mac2',
    vnic_configs: [
      // Static (the LAN must reach it; no DHCP server here), its subnet from netmon's facts.
      { name: 'eth0', parent_interface: lanA.parent, network_mode: 'static', ip: '198.51.100.70' },
      { name: 'eth1', parent_interface: lanB.parent, network_mode: 'static', ip: '203.0.113.20', subnet: '203.0.113.0/26', mac: REQUESTED },
    ],
  });
  assert.ok(r.ok);
  await putRuntime(agent.store, r.spec);
  const st = await waitFor('converged with both MACs', async () => {
    const s = agent.store.state.runtimes['plc-mac2']?.status;
    return s?.phase === 'Running' && Object.keys(s.endpoints).length === 2 && (await agent.controller.dryRun()).length === 0 ? s : null;
  }, 30_000);
  const a = st.endpoints[`macvlan_${lanA.parent}_198.51.100.64_26`]!;
  const b = st.endpoints[`macvlan_${lanB.parent}_203.0.113.0_26`]!;
  assert.equal(lanSees(lanA, a.ip!), deriveMac('plc-mac2', 'eth0'));
  assert.equal(lanSees(lanB, '203.0.113.20'), REQUESTED);
  assert.deepEqual([a.mac, b.mac], [deriveMac('plc-mac2', 'eth0'), REQUESTED]);
  const ds = await getDeviceStatus.handle([{ device_id: 'plc-mac2' }], agent.topics);
  const nets = ds.networks as Record<string, { mac_address: string }>;
  assert.equal(nets[`macvlan_${lanA.parent}_198.51.100.64_26`]!.mac_address, deriveMac('plc-mac2', 'eth0'));
  assert.equal(nets[`macvlan_${lanB.parent}_203.0.113.0_26`]!.mac_address, REQUESTED);
});

test('no flapping: a no-op pass makes no netmon call and only the 3 list calls', async () => {
  await agent.controller.settled();
  assert.deepEqual(await agent.controller.dryRun(), []);
  const before = calls.count;
  const netmonBefore = agent.netmon.commandsSent;
  agent.controller.wake();
  await agent.controller.settled();
  assert.equal(calls.count - before, 3);
  assert.equal(agent.netmon.commandsSent, netmonBefore);
});

test('a re-attach after a host subnet change keeps the MAC the LAN sees, without a restart', async () => {
  const startedAt = (await engine.docker.getContainer('plc-mac2').inspect()).State.StartedAt;
  ip('addr', 'flush', 'dev', lanA.parent);
  ip('addr', 'add', '198.51.100.189/26', 'dev', lanA.parent);
  const peer = lanA.exec(['ip', '-o', 'link']).split('\n').find((x) => / op[0-9a-f]+@/.test(x))!.split(': ')[1]!.split('@')[0]!;
  lanA.exec(['ip', 'addr', 'flush', 'dev', peer]);
  lanA.exec(['ip', 'addr', 'add', '198.51.100.190/26', 'dev', peer]);
  const st = await waitFor('re-attached', async () => {
    const s = agent.store.state.runtimes['plc-mac2']?.status;
    return s?.phase === 'Running' && s.endpoints[`macvlan_${lanA.parent}_198.51.100.128_26`] && (await agent.controller.dryRun()).length === 0 ? s : null;
  }, 30_000);
  const a = st.endpoints[`macvlan_${lanA.parent}_198.51.100.128_26`]!;
  assert.equal(lanSees(lanA, a.ip!), deriveMac('plc-mac2', 'eth0'));
  assert.equal(lanSees(lanB, '203.0.113.20'), REQUESTED);
  assert.equal((await engine.docker.getContainer('plc-mac2').inspect()).State.StartedAt, startedAt);
});
