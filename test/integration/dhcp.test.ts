// DHCP vNICs (CONTRACT §9.1) against a real DHCP server: busybox udhcpd in the LAN namespace, netmon as a
// process running udhcpc in the runtime's namespace, the agent writing the lease into the runtime's status.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import { markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonProcess } from '../support/netmon-process.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.0/26';
const MV = (lan: Lan) => `macvlan_${lan.parent}_203.0.113.0_26`;
let engine: Engine;
let lan: Lan;
let dataDir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;
let netmon: NetmonProcess;
let server: ChildProcess | null = null;
let serverDir: string;

/** busybox udhcpd in the LAN namespace: by default 203.0.113.40–50, router and DNS the LAN host. */
function startServer(range: [string, string] = ['203.0.113.40', '203.0.113.50'], router = lan.peerIp): void {
  const conf = path.join(serverDir, 'udhcpd.conf');
  fs.writeFileSync(conf, [
    `start ${range[0]}`, `end ${range[1]}`, `interface op${lan.parent.slice(2)}`, `lease_file ${path.join(serverDir, 'leases')}`, `pidfile ${path.join(serverDir, 'udhcpd.pid')}`,
    'option subnet 255.255.255.192', `option router ${router}`, `option dns ${router}`, 'option lease 60', '',
  ].join('\n'));
  if (!fs.existsSync(path.join(serverDir, 'leases'))) fs.writeFileSync(path.join(serverDir, 'leases'), '');
  server = spawn('ip', ['netns', 'exec', lan.ns, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
}
async function stopServer(): Promise<void> {
  const s = server;
  server = null;
  if (!s || s.exitCode !== null) return;
  const exited = new Promise((r) => s.once('exit', r));
  s.kill('SIGTERM');
  await exited;
}

const lease = () => agent.store.state.runtimes['plc-dhcp']?.status.dhcp.eth0;
const netReady = () => agent.store.state.runtimes['plc-dhcp']?.status.conditions.find((c) => c.type === 'NetworkReady');
/** The IPv4 addresses the runtime's interface really has (read in its namespace). */
/**
 * The udhcpc clients of netmon in the network namespace `ns` (`net:[inode]`), orphans included: the
 * machine's other udhcpc processes (another engine's pass of this suite runs at the same time) are not ours.
 */
function clientsIn(ns: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('udhcpc') && l.includes('orch-netmon-dhcp-')).filter((l) => {
    try {
      return fs.readlinkSync(`/proc/${l.trim().split(/\s+/)[0]}/ns/net`) === ns;
    } catch {
      return false; // ended meanwhile
    }
  });
}
const runtimeNetns = async () => fs.readlinkSync(`/proc/${(await engine.docker.getContainer('plc-dhcp').inspect()).State.Pid}/ns/net`);

async function addressesInside(): Promise<string[]> {
  const pid = (await engine.docker.getContainer('plc-dhcp').inspect()).State.Pid;
  const list = JSON.parse(execFileSync('nsenter', ['-t', String(pid), '-n', 'ip', '-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[];
  return list.filter((i) => i.ifname !== 'lo').flatMap((i) => i.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).filter((a) => a.startsWith('203.0.113.'));
}

describe('dhcp vNICs', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-dhcp-'));
    serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-udhcpd-'));
    startServer();
    netmon = new NetmonProcess(path.join(dataDir, 'netmon.sock'), 100);
    await netmon.start();
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
    const r = normalizeCreateRequest({ container_name: 'plc-dhcp', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'dhcp', subnet: SUBNET }] });
    if (!r.ok) throw new Error(r.error);
    await putRuntime(agent.store, r.spec);
  });
  after(async () => {
    await stopAgent?.();
    await netmon?.stop();
    await stopServer();
    lan?.remove();
    await engine?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(serverDir, { recursive: true, force: true });
  });

  test('the LAN server leases the address: in the namespace with its prefix, in the status, in get_device_status; Docker IPAM address gone', async () => {
    await waitFor('a lease', () => lease()?.event === 'bound', 60_000, 100);
    const l = lease()!;
    assert.match(l.ip!, /^203\.0\.113\.(4\d|50)$/);
    assert.equal(l.prefix, 26, 'the netmask 255.255.255.192 is /26');
    assert.equal(l.gateway, lan.peerIp);
    await waitFor('NetworkReady', () => netReady()?.status === 'True', 10_000, 50);
    const dockerIp = (await engine.docker.getContainer('plc-dhcp').inspect()).NetworkSettings.Networks[MV(lan)]!.IPAddress;
    assert.deepEqual(await addressesInside(), [`${l.ip}/26`], `only the lease (Docker's IPAM had put ${dockerIp} there)`);
    assert.equal(agent.store.state.runtimes['plc-dhcp']!.status.phase, 'Running');
    assert.equal(agent.store.state.runtimes['plc-dhcp']!.status.endpoints[MV(lan)]?.ip, l.ip);
    const ack = await getDeviceStatus.handle([{ device_id: 'plc-dhcp' }], agent.topics);
    const nets = ack.networks as Record<string, { ip_address: string; gateway: string; mac_address: string }>;
    assert.equal(nets[MV(lan)]!.ip_address, l.ip);
    assert.equal(nets[MV(lan)]!.gateway, lan.peerIp);
    assert.equal(ack.status, 'success');
    // The LAN reaches the PLC at its lease; its DNS came with the lease.
    lan.exec(['busybox', 'ping', '-c', '1', '-W', '3', l.ip!]);
    const resolv = execFileSync('cat', [`/proc/${(await engine.docker.getContainer('plc-dhcp').inspect()).State.Pid}/root/etc/resolv.conf`], { encoding: 'utf8' });
    assert.match(resolv, new RegExp(`nameserver ${lan.peerIp.replace(/\./g, '\\.')}`));
  });

  test('a container restart: a new client in the new namespace, the same address, no re-create', async () => {
    const before = await engine.docker.getContainer('plc-dhcp').inspect();
    const ip = lease()!.ip;
    await setLifecycle(agent.store, 'plc-dhcp', 'restart');
    const after = await waitFor('restarted', async () => {
      const c = await engine.docker.getContainer('plc-dhcp').inspect();
      return c.State.Running && c.State.StartedAt !== before.State.StartedAt ? c : null;
    }, 30_000, 50);
    await waitFor('bound in the new namespace', () => lease()?.event === 'bound' && Date.parse(lease()!.at) >= Date.parse(after.State.StartedAt), 60_000, 100);
    assert.equal(after.Id, before.Id);
    assert.equal(lease()!.ip, ip, 'the server keeps the MAC its address');
    assert.deepEqual(await addressesInside(), [`${ip}/26`]);
  });

  test('netmon killed and restarted: the client comes back and the PLC keeps its address', async () => {
    const ip = lease()!.ip;
    const t0 = new Date().toISOString();
    await netmon.stop('SIGKILL');
    await netmon.start();
    await waitFor('a new lease report from the new netmon', () => lease()?.event === 'bound' && lease()!.at > t0, 60_000, 100);
    assert.equal(lease()!.ip, ip);
    assert.deepEqual(await addressesInside(), [`${ip}/26`]);
    const procs = clientsIn(await runtimeNetns());
    assert.equal(procs.length, 1, `one client, the killed netmon's orphan ended: ${procs.join(' | ')}`);
  });

  test('the server silent: NetworkReady=False DhcpFailed while the runtime keeps running; back → leased again', async () => {
    await stopServer();
    await setLifecycle(agent.store, 'plc-dhcp', 'restart');
    await waitFor('DhcpFailed', () => netReady()?.reason === 'DhcpFailed', 60_000, 100);
    assert.equal(agent.store.state.runtimes['plc-dhcp']!.status.phase, 'Running');
    startServer();
    await waitFor('bound again', () => lease()?.event === 'bound', 60_000, 100);
    await waitFor('NetworkReady', () => netReady()?.status === 'True', 10_000, 50);
  });

  test('delete: the client stops (lease released) with the runtime', async () => {
    const ns = await runtimeNetns();
    assert.equal(clientsIn(ns).length, 1, 'a client before the delete');
    await markForDeletion(agent.store, 'plc-dhcp');
    await waitFor('deleted', () => !agent.store.state.runtimes['plc-dhcp'], 60_000, 100);
    await waitFor('no client left', () => clientsIn(ns).length === 0, 10_000, 100);
  });

  test('two runtimes on one LAN get distinct leases; the LAN renumbered (server reconfigured) and back: new leases, no restart, same MACs', async () => {
    // Subnets from netmon's facts this time: the host's parent gets an address on the LAN.
    execFileSync('ip', ['addr', 'add', '203.0.113.1/26', 'dev', lan.parent]);
    for (const name of ['plc-d1', 'plc-d2']) {
      const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'dhcp' }] });
      if (!r.ok) throw new Error(r.error);
      await putRuntime(agent.store, r.spec);
    }
    const leaseOf = (n: string) => agent.store.state.runtimes[n]?.status.dhcp.eth0;
    await waitFor('both leased', () => leaseOf('plc-d1')?.event === 'bound' && leaseOf('plc-d2')?.event === 'bound', 60_000, 100);
    assert.notEqual(leaseOf('plc-d1')!.ip, leaseOf('plc-d2')!.ip);
    const before = await Promise.all(['plc-d1', 'plc-d2'].map((n) => engine.docker.getContainer(n).inspect()));
    const macsBefore = before.map((c) => c.NetworkSettings.Networks[MV(lan)]!.MacAddress);
    // Renumbering: the host, the LAN host and the server move to 203.0.113.64/26.
    await stopServer();
    execFileSync('ip', ['addr', 'flush', 'dev', lan.parent]);
    execFileSync('ip', ['addr', 'add', '203.0.113.65/26', 'dev', lan.parent]);
    const peer = `op${lan.parent.slice(2)}`;
    lan.exec(['ip', 'addr', 'flush', 'dev', peer]);
    lan.exec(['ip', 'addr', 'add', '203.0.113.126/26', 'dev', peer]);
    startServer(['203.0.113.80', '203.0.113.90'], '203.0.113.126');
    const inNew = (n: string) => leaseOf(n)?.event === 'bound' && /^203\.0\.113\.(8\d|90)$/.test(leaseOf(n)!.ip ?? '');
    await waitFor('both leased on the new LAN', () => inNew('plc-d1') && inNew('plc-d2'), 90_000, 200);
    const after = await Promise.all(['plc-d1', 'plc-d2'].map((n) => engine.docker.getContainer(n).inspect()));
    const mvNew = `macvlan_${lan.parent}_203.0.113.64_26`;
    assert.deepEqual(after.map((c) => c.State.StartedAt), before.map((c) => c.State.StartedAt), 'not restarted');
    for (const [i, c] of after.entries()) {
      const ns = JSON.parse(execFileSync('nsenter', ['-t', String(c.State.Pid), '-n', 'ip', '-j', 'link', 'show'], { encoding: 'utf8' })) as { address: string }[];
      assert.ok(ns.some((l) => l.address === macsBefore[i]), `${c.Name} keeps its MAC on ${mvNew}`);
    }
    // Back to the first subnet, then to the second again: networks of names seen before get new endpoints,
    // whose MACs (ignored by Docker below API 1.44 on a running container) must be set again each time.
    const moveTo = async (host: string, peerCidr: string, range: [string, string], router: string) => {
      await stopServer();
      execFileSync('ip', ['addr', 'flush', 'dev', lan.parent]);
      execFileSync('ip', ['addr', 'add', host, 'dev', lan.parent]);
      lan.exec(['ip', 'addr', 'flush', 'dev', peer]);
      lan.exec(['ip', 'addr', 'add', peerCidr, 'dev', peer]);
      startServer(range, router);
    };
    const inOld = (n: string) => leaseOf(n)?.event === 'bound' && /^203\.0\.113\.(4\d|50)$/.test(leaseOf(n)!.ip ?? '');
    await moveTo('203.0.113.1/26', `${lan.peerIp}/26`, ['203.0.113.40', '203.0.113.50'], lan.peerIp);
    await waitFor('both leased on the first LAN again', () => inOld('plc-d1') && inOld('plc-d2'), 90_000, 200);
    await moveTo('203.0.113.65/26', '203.0.113.126/26', ['203.0.113.80', '203.0.113.90'], '203.0.113.126');
    await waitFor('both leased on the second LAN again', () => inNew('plc-d1') && inNew('plc-d2'), 90_000, 200);
    const again = await Promise.all(['plc-d1', 'plc-d2'].map((n) => engine.docker.getContainer(n).inspect()));
    assert.deepEqual(again.map((c) => c.State.StartedAt), before.map((c) => c.State.StartedAt), 'not restarted');
    for (const [i, c] of again.entries()) {
      const ns = JSON.parse(execFileSync('nsenter', ['-t', String(c.State.Pid), '-n', 'ip', '-j', 'link', 'show'], { encoding: 'utf8' })) as { address: string }[];
      assert.ok(ns.some((l) => l.address === macsBefore[i]), `${c.Name} keeps its MAC on ${mvNew} the second time`);
    }
    for (const n of ['plc-d1', 'plc-d2']) await markForDeletion(agent.store, n);
    await waitFor('deleted', () => !agent.store.state.runtimes['plc-d1'] && !agent.store.state.runtimes['plc-d2'], 60_000, 100);
  });
});
