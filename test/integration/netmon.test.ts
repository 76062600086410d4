// The netmon sidecar and self-healing MACVLAN networking on real kernel networking: a veth pair as the
// "physical" NIC, its peer in a LAN namespace, documentation address ranges.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { deriveMac, normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { getConsumptionOrchestrator } from '../../src/sources/cloud/topics/consumption.js';
import { getHostInterfaces } from '../../src/sources/cloud/topics/get-host-interfaces.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { countDockerCalls, startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const DEBOUNCE = 300;
const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

let dir: string;
let lan: Lan;
let netmon: NetmonProcess;

function readdress(l: Lan, hostCidr: string, peerCidr: string): void {
  ip('addr', 'flush', 'dev', l.parent);
  ip('addr', 'add', hostCidr, 'dev', l.parent);
  const peer = l.exec(['ip', '-o', 'link']).split('\n').find((x) => / op[0-9a-f]+@/.test(x))!.split(': ')[1]!.split('@')[0]!;
  l.exec(['ip', 'addr', 'flush', 'dev', peer]);
  l.exec(['ip', 'addr', 'add', peerCidr, 'dev', peer]);
}

describe('netmon sidecar', () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-'));
    lan = createLan('198.51.100.64/26');
    ip('addr', 'add', '198.51.100.125/26', 'dev', lan.parent);
    fs.writeFileSync(path.join(dir, 'netmon.sock'), 'stale'); // a stale file is removed at start
    netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), DEBOUNCE);
    await netmon.start();
  });
  after(async () => {
    await netmon?.stop();
    lan?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('discovery on connect; socket mode 0660', async () => {
    assert.equal(fs.statSync(netmon.socketPath).mode & 0o777, 0o660);
    const c = await NetmonClient.connect(netmon.socketPath);
    const d = await waitFor('discovery', () => c.events('network_discovery')[0]?.msg);
    const mine = (d.interfaces as { interface: string; type: string; ipv4_addresses: { subnet: string }[] }[]).find((i) => i.interface === lan.parent)!;
    assert.equal(mine.type, 'ethernet');
    assert.deepEqual(mine.ipv4_addresses.map((a) => a.subnet), ['198.51.100.64/26']);
    assert.ok(!(d.interfaces as { interface: string }[]).some((i) => i.interface === 'lo' || i.interface.startsWith('br-')));
    // Its version, for get_orchestrator_version without a Docker call (issue #27).
    assert.equal(d.version, (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
    c.close();
  });

  test('address change, link down, new link and removal are reported within debounce + 1 s', async () => {
    const c = await NetmonClient.connect(netmon.socketPath);
    await waitFor('discovery', () => c.events('network_discovery').length > 0);
    let t = Date.now();
    readdress(lan, '203.0.113.125/26', '203.0.113.126/26');
    const moved = await waitFor('address change', () => c.events('network_change', lan.parent).find((e) => (e.msg.ipv4_addresses as { subnet: string }[])[0]?.subnet === '203.0.113.64/26'));
    assert.ok(moved.at - t < DEBOUNCE + 1000, `${moved.at - t} ms`);
    assert.equal(moved.msg.interface_type, 'ethernet');
    t = Date.now();
    ip('link', 'set', lan.parent, 'down');
    const down = await waitFor('link down', () => c.events('network_change', lan.parent).find((e) => e.msg.status === 'down'));
    assert.ok(down.at - t < DEBOUNCE + 1000, `${down.at - t} ms`);
    ip('link', 'set', lan.parent, 'up');
    const extra = createLan('198.51.100.128/26');
    try {
      t = Date.now();
      const added = await waitFor('new link', () => c.events('network_change', extra.parent)[0]);
      assert.ok(added.at - t < DEBOUNCE + 1000);
      assert.deepEqual(added.msg.ipv4_addresses, [], 'up without IPv4 is reported');
      t = Date.now();
      extra.remove();
      const removed = await waitFor('removed', () => c.events('network_change', extra.parent).find((e) => e.msg.status === 'removed'));
      assert.ok(removed.at - t < DEBOUNCE + 1000);
    } finally {
      extra.remove();
    }
    c.close();
  });

  test('commands echo their id; garbage and vanishing clients are survived', async () => {
    const c = await NetmonClient.connect(netmon.socketPath);
    assert.deepEqual(await c.ask({ command: 'ping', id: 7 }), { id: 7, success: true, pong: true });
    const n = c.lines.length;
    c.write('this is not json\n');
    c.write('{"command":"nope","id":"x"}\n');
    c.write('[1,2]\n');
    c.write(`${'A'.repeat(1_200_000)}\n`);
    await waitFor('answers to garbage', () => c.lines.slice(n).filter((l) => l.msg.success === false).length >= 4);
    const answers = c.lines.slice(n).map((l) => l.msg);
    assert.deepEqual(answers[0], { id: null, success: false, error: 'not JSON' });
    assert.equal(answers[1]!.id, 'x');
    const st = await c.ask({ command: 'get_status', id: 8 });
    assert.equal(st.success, true);
    const gone = await NetmonClient.connect(netmon.socketPath);
    gone.write('{"command":"pi');
    gone.close();
    assert.deepEqual(await c.ask({ command: 'ping', id: 9 }), { id: 9, success: true, pong: true });
    assert.equal(netmon.child?.exitCode, null);
    c.close();
  });

  test('the 30 s re-discovery sends every interface again, and runs `ip` only when a fact changed (a MAC alone, which no look sees)', async () => {
    const c = await NetmonClient.connect(netmon.socketPath);
    try {
      await waitFor('discovery', () => c.events('network_discovery').length > 0);
      let id = 100;
      const reads = async () => (await c.ask({ command: 'get_status', id: ++id })).facts_reads as number;
      const sent = () => c.events('network_change', lan.parent).length;
      // Past the previous tests' stragglers: one re-discovery, then one with nothing changed before it.
      let n = sent();
      await waitFor('a re-discovery', () => sent() > n, 35_000, 100);
      const r0 = await reads();
      n = sent();
      await waitFor('the next re-discovery', () => sent() > n, 35_000, 100);
      const again = c.events('network_change', lan.parent).at(-1)!;
      assert.equal(await reads(), r0, 'nothing changed: the facts of the last read, no `ip`');
      assert.ok(Date.parse(again.msg.timestamp as string) > Date.now() - 5000, 'stamped when sent');
      const mac = '02:00:5e:00:53:77';
      ip('link', 'set', 'dev', lan.parent, 'address', mac);
      const r1 = await reads();
      await waitFor('the new MAC', () => c.events('network_change', lan.parent).find((e) => e.msg.mac_address === mac), 35_000, 100);
      assert.equal(await reads(), r1 + 1, 'the signature saw the MAC: one `ip` read');
    } finally {
      c.close();
    }
  });
});

describe('MACVLAN networking follows the host network', () => {
  let engine: Engine;
  let agent: Agent;
  let stopAgent: () => Promise<void>;
  let calls: { readonly count: number } = { count: 0 };
  const netName = (cidr: string) => `macvlan_${lan.parent}_${cidr.replace('/', '_')}`;
  const inspect = () => engine.docker.getContainer('plc-move').inspect();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-'));
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan('198.51.100.64/26');
    ip('addr', 'add', '198.51.100.125/26', 'dev', lan.parent);
    netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), DEBOUNCE);
    await netmon.start();
    ({ agent, stop: stopAgent } = await startAgent(engine, {
      ORCH_NETMON_SOCKET: netmon.socketPath,
      ORCH_NETMON_DEBOUNCE_MS: String(DEBOUNCE),
      ORCH_RESYNC_INTERVAL_MS: '3600000',
      ORCH_HEARTBEAT_INTERVAL_MS: '3600000',
    }));
    calls = countDockerCalls(agent);
  });
  after(async () => {
    await stopAgent?.();
    await netmon?.stop();
    lan?.remove();
    await engine?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the subnet comes from netmon; the runtime converges on it', async () => {
    // Static, so that the LAN reaches it without a DHCP server (dhcp vNICs: dhcp.test.ts); the subnet is netmon's.
    const r = normalizeCreateRequest({ container_name: 'plc-move', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.70' }] });
    assert.ok(r.ok);
    await putRuntime(agent.store, r.spec);
    await waitFor('running on the netmon subnet', () => {
      const st = agent.store.state.runtimes['plc-move']?.status;
      return st?.phase === 'Running' && st.endpoints[netName('198.51.100.64/26')] ? st : null;
    }, 30_000);
    assert.equal((await inspect()).NetworkSettings.Networks[netName('198.51.100.64/26')]!.MacAddress, deriveMac('plc-move', 'eth0'));
    const ready = agent.store.state.runtimes['plc-move']!.status.conditions.find((c) => c.type === 'NetworkReady')!;
    assert.equal(ready.status, 'True');
  });

  test('get_host_interfaces answers from netmon facts', async () => {
    const a = await getHostInterfaces.handle([{ correlation_id: 1 }], agent.topics);
    assert.equal(a.status, 'success');
    const mine = (a.interfaces as { name: string; ip_address: string; ipv4_addresses: string[]; type: string; operstate: string; subnet: string }[]).find((i) => i.name === lan.parent)!;
    assert.deepEqual([mine.ip_address, mine.ipv4_addresses, mine.type, mine.operstate, mine.subnet], ['198.51.100.125', ['198.51.100.125'], 'ethernet', 'up', '198.51.100.64/26']);
    const names = (a.interfaces as { name: string }[]).map((i) => i.name);
    assert.deepEqual(names, [...names].sort());
    const o = await getConsumptionOrchestrator.handle([{}], agent.topics);
    assert.ok((o.ip_addresses as { interface: string; ip_address: string }[]).some((x) => x.interface === lan.parent && x.ip_address === '198.51.100.125'));
  });

  test('a host address change moves the runtime: same MAC, never restarted, reachable on the new address', async () => {
    const before = await inspect();
    readdress(lan, '203.0.113.125/26', '203.0.113.126/26');
    const st = await waitFor('re-attached', () => {
      const s = agent.store.state.runtimes['plc-move']?.status;
      const ep = s?.endpoints[netName('203.0.113.64/26')];
      return s?.phase === 'Running' && ep?.mac === deriveMac('plc-move', 'eth0') && Object.keys(s.endpoints).length === 1 ? ep : null;
    }, 30_000);
    const after = await inspect();
    assert.equal(after.Id, before.Id);
    assert.equal(after.State.StartedAt, before.State.StartedAt, 'the container was not restarted');
    assert.ok(!(await engine.docker.listNetworks()).some((n) => n.Name === netName('198.51.100.64/26')), 'old network removed');
    // The MAC the LAN sees is the promised one, whatever Docker's record says.
    const nsLinks = execFileSync('nsenter', ['-t', String(after.State.Pid), '-n', 'ip', '-j', 'addr'], { encoding: 'utf8' });
    assert.ok((JSON.parse(nsLinks) as { address: string; addr_info: { local: string }[] }[]).some((l) => l.address === deriveMac('plc-move', 'eth0') && l.addr_info.some((a) => a.local === st.ip)));
    const js = `require('https').get({host:'${st.ip}',port:8443,path:'/api/ping',rejectUnauthorized:false,timeout:5000},r=>{console.log(r.statusCode)}).on('error',e=>console.log(e.message))`;
    assert.equal(lan.exec([process.execPath, '-e', js]).trim(), '200');
    const neigh = lan.exec(['ip', 'neigh', 'show', st.ip!]);
    assert.match(neigh, new RegExp(deriveMac('plc-move', 'eth0')));
  });

  test('an unchanged re-discovery (netmon killed and restarted) costs no Docker call and changes nothing', async () => {
    await agent.controller.settled();
    const startedAt = (await inspect()).State.StartedAt;
    const before = calls.count;
    await netmon.stop('SIGKILL');
    await netmon.start();
    await waitFor('netmon reconnected and rediscovered', () => agent.netmon.connected && agent.netmon.eventsSeen > 0, 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    await agent.controller.settled();
    assert.equal(calls.count, before, 'no Docker API call');
    assert.equal((await inspect()).State.StartedAt, startedAt);
  });

  test('a parent that goes down is NetworkReady=False, and healthy again when it returns', async () => {
    ip('link', 'set', lan.parent, 'down');
    await waitFor('ParentDown', () => agent.store.state.runtimes['plc-move']?.status.conditions.find((c) => c.type === 'NetworkReady' && c.reason === 'ParentDown'), DEBOUNCE + 5000);
    ip('link', 'set', lan.parent, 'up');
    await waitFor('NetworkReady again', () => agent.store.state.runtimes['plc-move']?.status.conditions.find((c) => c.type === 'NetworkReady' && c.status === 'True'), DEBOUNCE + 5000);
  });
});
