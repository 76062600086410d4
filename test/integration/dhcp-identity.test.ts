// A `dhcp` vNIC's identity across agent restarts and adoption, and a status that never reports what the
// interface does not have (CONTRACT §8, §9.1, §5.6): real DHCP servers (busybox udhcpd in two LAN
// namespaces), netmon as a process, the agent restarted on the same data dir.
// LAN A carries a runtime this agent creates, renumbered once; LAN B a Python agent's runtime whose MAC was
// set inside its namespace (Docker's record still says the 02:42 one Docker gave the endpoint), leased
// before the agent ever ran.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest, vnicMac } from '../../src/domain/runtime-spec.js';
import { getDeviceStatus } from '../../src/sources/cloud/topics/get-device-status.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonProcess } from '../support/netmon-process.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lanA: Lan;
let lanB: Lan;
let dataDir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;
let netmon: NetmonProcess;
const servers = new Map<Lan, ChildProcess>();
const PY_MAC = '36:a5:dc:c1:5d:b5';
let pyLease = '';
let pyStartedAt = '';

/** busybox udhcpd on `lan` handing out `range` (/26), router and DNS `router`. */
function startServer(lan: Lan, range: [string, string], router: string): void {
  const dir = fs.mkdtempSync(path.join(dataDir, 'udhcpd-'));
  const conf = path.join(dir, 'udhcpd.conf');
  fs.writeFileSync(conf, [
    `start ${range[0]}`, `end ${range[1]}`, `interface op${lan.parent.slice(2)}`, `lease_file ${path.join(dir, 'leases')}`, `pidfile ${path.join(dir, 'pid')}`,
    'option subnet 255.255.255.192', `option router ${router}`, `option dns ${router}`, 'option lease 60', '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'leases'), '');
  servers.set(lan, spawn('ip', ['netns', 'exec', lan.ns, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' }));
}
async function stopServer(lan: Lan): Promise<void> {
  const s = servers.get(lan);
  servers.delete(lan);
  if (!s || s.exitCode !== null) return;
  const exited = new Promise((r) => s.once('exit', r));
  s.kill('SIGTERM');
  await exited;
}

interface LanIface { ifname: string; mac: string; ipv4: string[] }
/** The runtime's MACVLAN interface as its namespace has it now (null when the container does not run). */
async function lanIface(name: string): Promise<LanIface | null> {
  const c = await engine.docker.getContainer(name).inspect().catch(() => null);
  if (!c?.State.Running || !c.State.Pid) return null;
  const list = JSON.parse(execFileSync('nsenter', ['-t', String(c.State.Pid), '-n', 'ip', '-j', '-d', 'addr', 'show'], { encoding: 'utf8' })) as
    { ifname: string; address: string; linkinfo?: { info_kind?: string }; addr_info: { family: string; local: string }[] }[];
  const i = list.find((x) => x.linkinfo?.info_kind === 'macvlan');
  return i ? { ifname: i.ifname, mac: i.address, ipv4: i.addr_info.filter((a) => a.family === 'inet').map((a) => a.local) } : null;
}

/** The MAC the LAN has for `ip` in its neighbour table (after a ping from the LAN host). */
function lanNeighbourMac(lan: Lan, ip: string): string | undefined {
  lan.exec(['busybox', 'ping', '-c', '1', '-W', '3', ip]);
  const n = JSON.parse(lan.exec(['ip', '-j', 'neigh', 'show', ip])) as { lladdr?: string }[];
  return n[0]?.lladdr;
}

type Networks = Record<string, { ip_address: string | null; mac_address: string | null; gateway: string | null }>;
const deviceStatus = async (name: string) => (await getDeviceStatus.handle([{ device_id: name }], agent.topics)) as Record<string, unknown> & { networks?: Networks };
const lease = (name: string) => agent.store.state.runtimes[name]?.status.dhcp.eth0;
const bound = (name: string) => lease(name)?.event === 'bound' || lease(name)?.event === 'renew';

/** A Python agent's runtime on LAN B (no labels, restart policy always, the MACVLAN network connected after start), leased. */
async function pythonRuntime(): Promise<void> {
  const mv = `macvlan_${lanB.parent}_198.51.100.0_26`;
  await engine.docker.createNetwork({ Name: mv, Driver: 'macvlan', Options: { parent: lanB.parent }, IPAM: { Config: [{ Subnet: '198.51.100.0/26', Gateway: lanB.peerIp }] } });
  await engine.docker.createNetwork({ Name: 'plc-py_internal', Driver: 'bridge', Internal: true });
  const c = await engine.docker.createContainer({ name: 'plc-py', Image: `${TEST_IMAGE}:latest`, HostConfig: { RestartPolicy: { Name: 'always' }, NetworkMode: 'plc-py_internal' } });
  await c.start();
  await engine.docker.getNetwork(mv).connect({ Container: c.id });
  const info = await c.inspect();
  assert.match(info.NetworkSettings.Networks[mv]!.MacAddress, /^02:42:/);
  const pid = String(info.State.Pid);
  const iface = (await lanIface('plc-py'))!;
  execFileSync('nsenter', ['-t', pid, '-n', 'ip', 'link', 'set', 'dev', iface.ifname, 'address', PY_MAC]);
  // Its lease, taken by a client that is gone now (the Python agent's): Docker's address replaced.
  const script = path.join(dataDir, 'udhcpc.sh');
  fs.writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr flush dev "$interface"\nip addr add "$ip/$mask" dev "$interface"\n', { mode: 0o755 });
  execFileSync('nsenter', ['-t', pid, '-n', 'busybox', 'udhcpc', '-q', '-f', '-n', '-i', iface.ifname, '-s', script, '-t', '10', '-T', '1'], { timeout: 30_000, stdio: 'ignore' });
  const leased = (await lanIface('plc-py'))!;
  assert.equal(leased.ipv4.length, 1);
  assert.notEqual(leased.ipv4[0], info.NetworkSettings.Networks[mv]!.IPAddress);
  pyLease = leased.ipv4[0]!;
  pyStartedAt = info.State.StartedAt;
  fs.writeFileSync(path.join(dataDir, 'runtime_vnics.json'), JSON.stringify({
    'plc-py': [{ name: 'eth0', parent_interface: lanB.parent, network_mode: 'dhcp', subnet: '255.255.255.192', gateway: lanB.peerIp, mac_address: PY_MAC, docker_network_name: mv, dhcp_ip: pyLease }],
  }));
  fs.mkdirSync(path.join(dataDir, 'data'));
  fs.writeFileSync(path.join(dataDir, 'data', 'clients.json'), JSON.stringify({ 'plc-py': { ip: info.NetworkSettings.Networks['plc-py_internal']!.IPAddress, name: 'plc-py' } }));
}

/** A runtime as it must be after any restart or adoption: converged, `success`, its MAC and lease on the LAN, not restarted. */
async function assertIntact(name: string, lan: Lan, mac: string, startedAt: string, ip?: string): Promise<void> {
  await waitFor(`${name} converged with its lease`, async () => bound(name) && agent.store.state.runtimes[name]?.status.conditions.find((c) => c.type === 'NetworkReady')?.status === 'True' && (await agent.controller.dryRun()).every((s) => s.device !== name), 60_000, 100);
  const ack = await deviceStatus(name);
  assert.equal(ack.status, 'success', JSON.stringify(ack.error));
  const l = lease(name)!;
  if (ip !== undefined) assert.equal(l.ip, ip, 'the same address');
  const [net] = Object.entries(ack.networks!).filter(([n]) => n.startsWith(`macvlan_${lan.parent}_`));
  assert.deepEqual(net![1], { ip_address: l.ip, mac_address: mac, gateway: l.gateway });
  const iface = (await lanIface(name))!;
  assert.equal(iface.mac, mac, 'the MAC in the namespace');
  assert.deepEqual(iface.ipv4, [l.ip]);
  assert.equal(lanNeighbourMac(lan, l.ip!), mac, "the MAC in the LAN's neighbour table");
  assert.equal((await engine.docker.getContainer(name).inspect()).State.StartedAt, startedAt, `${name} was not restarted`);
  assert.equal(agent.store.state.runtimes[name]!.status.endpoints[net![0]]?.ip, l.ip);
}

describe('dhcp vNICs: identity across restarts and adoption, and a status that matches the interface', () => {
  let polled: { startedAt: string; mac: string };

  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lanA = createLan('203.0.113.0/26');
    lanB = createLan('198.51.100.0/26');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-dhcp-id-'));
    startServer(lanA, ['203.0.113.40', '203.0.113.50'], lanA.peerIp);
    startServer(lanB, ['198.51.100.40', '198.51.100.50'], lanB.peerIp);
    await pythonRuntime();
    netmon = new NetmonProcess(path.join(dataDir, 'netmon.sock'), 100);
    await netmon.start();
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
  });
  after(async () => {
    await stopAgent?.();
    await netmon?.stop();
    for (const lan of [...servers.keys()]) await stopServer(lan);
    lanA?.remove();
    lanB?.remove();
    await engine?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('adoption keeps the MAC the interface has (not Docker\'s record) and the lease, without a restart', async () => {
    await waitFor('adopted', () => typeof agent.store.state.runtimes['plc-py']?.adoption === 'object', 30_000, 100);
    assert.equal(agent.store.state.runtimes['plc-py']!.spec.vnics[0]!.mac, PY_MAC);
    assert.equal(agent.store.state.runtimes['plc-py']!.spec.vnics[0]!.mode, 'dhcp');
    await assertIntact('plc-py', lanB, PY_MAC, pyStartedAt, pyLease);
  });

  test('polled every 100 ms from create to lease and through a renumbering, the status never shows an address or MAC the interface does not have', async () => {
    execFileSync('ip', ['addr', 'add', '203.0.113.1/26', 'dev', lanA.parent]); // the subnet comes from netmon's facts
    const r = normalizeCreateRequest({ container_name: 'plc-poll', vnic_configs: [{ name: 'eth0', parent_interface: lanA.parent, network_mode: 'dhcp' }] });
    if (!r.ok) throw new Error(r.error);
    const promised = vnicMac(r.spec, r.spec.vnics[0]!); // derived from the names (CONTRACT §7)
    const violations: string[] = [];
    const seen = { ips: new Set<string>(), nulls: 0, docker: new Set<string>() };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const before = await lanIface('plc-poll');
        const ack = await deviceStatus('plc-poll');
        const endpoints = agent.store.state.runtimes['plc-poll']?.status.endpoints ?? {};
        const ready = agent.store.state.runtimes['plc-poll']?.status.conditions.find((c) => c.type === 'NetworkReady')?.status === 'True';
        const after = await lanIface('plc-poll');
        const ips = new Set([...(before?.ipv4 ?? []), ...(after?.ipv4 ?? [])]);
        const macs = new Set([before?.mac, after?.mac].filter((m): m is string => m !== undefined));
        for (const [n, e] of Object.entries(ack.networks ?? {})) {
          if (!n.startsWith(`macvlan_${lanA.parent}_`)) continue;
          if (e.ip_address === null) seen.nulls++;
          else seen.ips.add(e.ip_address);
          if (e.ip_address !== null && !ips.has(e.ip_address)) violations.push(`get_device_status ${n}: ${e.ip_address} not on the interface (${[...ips].join(', ')})`);
          if ((e.ip_address === null) !== (e.gateway === null)) violations.push(`get_device_status ${n}: gateway ${e.gateway} with address ${e.ip_address}`);
          if (e.mac_address !== null && macs.size > 0 && !macs.has(e.mac_address)) violations.push(`get_device_status ${n}: MAC ${e.mac_address}, the interface has ${[...macs].join(', ')}`);
        }
        for (const [n, e] of Object.entries(endpoints)) {
          if (e.ip !== null && !ips.has(e.ip)) violations.push(`state file ${n}: ${e.ip} not on the interface (${[...ips].join(', ')})`);
        }
        // (A created container not started yet has no interface: NetworkReady says its endpoints are attached.)
        if (ready && macs.size > 0 && !macs.has(promised)) violations.push(`NetworkReady True while the interface has ${[...macs].join(', ')}`);
        const c = await engine.docker.getContainer('plc-poll').inspect().catch(() => null);
        for (const ep of Object.values(c?.NetworkSettings.Networks ?? {})) if (ep.IPAddress.startsWith('203.0.113.')) seen.docker.add(ep.IPAddress);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    try {
      await putRuntime(agent.store, r.spec);
      await waitFor('leased on 203.0.113.0/26', () => bound('plc-poll') && /^203\.0\.113\.(4\d|50)$/.test(lease('plc-poll')!.ip ?? ''), 60_000, 100);
      await waitFor('NetworkReady', () => agent.store.state.runtimes['plc-poll']?.status.conditions.find((c) => c.type === 'NetworkReady')?.status === 'True', 10_000, 50);
      const c0 = await engine.docker.getContainer('plc-poll').inspect();
      polled = { startedAt: c0.State.StartedAt, mac: (await lanIface('plc-poll'))!.mac };
      // One poll round takes several calls: under load the first lease could pass unseen before the renumbering.
      await waitFor('the poll saw the first lease', () => seen.ips.size >= 1, 10_000, 50);
      // Renumbered: the host, the LAN host and the server move to 203.0.113.64/26; the endpoint is re-attached
      // to a running container, where Docker ignores the requested MAC and the agent sets it in the namespace.
      await stopServer(lanA);
      execFileSync('ip', ['addr', 'flush', 'dev', lanA.parent]);
      execFileSync('ip', ['addr', 'add', '203.0.113.65/26', 'dev', lanA.parent]);
      const peer = `op${lanA.parent.slice(2)}`;
      lanA.exec(['ip', 'addr', 'flush', 'dev', peer]);
      lanA.exec(['ip', 'addr', 'add', '203.0.113.126/26', 'dev', peer]);
      startServer(lanA, ['203.0.113.80', '203.0.113.90'], '203.0.113.126');
      await waitFor('leased on 203.0.113.64/26', () => bound('plc-poll') && /^203\.0\.113\.(8\d|90)$/.test(lease('plc-poll')!.ip ?? ''), 90_000, 100);
      await waitFor('NetworkReady', () => agent.store.state.runtimes['plc-poll']?.status.conditions.find((c) => c.type === 'NetworkReady')?.status === 'True', 10_000, 50);
      await new Promise((res) => setTimeout(res, 1000)); // a few more polls on the settled runtime
    } finally {
      polling = false;
      await poller;
    }
    assert.deepEqual(violations.slice(0, 10), []);
    assert.ok(seen.nulls > 0, 'the poll saw the time before a lease');
    assert.ok(seen.ips.size >= 2, `the poll saw both leases: ${[...seen.ips].join(', ')}`);
    assert.ok([...seen.docker].every((ip) => !seen.ips.has(ip)), `Docker's IPAM addresses (${[...seen.docker].join(', ')}) never shown`);
    const mv = Object.keys((await engine.docker.getContainer('plc-poll').inspect()).NetworkSettings.Networks).find((n) => n.startsWith('macvlan_'))!;
    assert.equal(mv, `macvlan_${lanA.parent}_203.0.113.64_26`);
    assert.match((await engine.docker.getContainer('plc-poll').inspect()).NetworkSettings.Networks[mv]!.MacAddress, /^02:42:/, "Docker's record: the MAC it gave the re-attached endpoint");
    await assertIntact('plc-poll', lanA, polled.mac, polled.startedAt);
  });

  test('an agent restart: both runtimes keep their MACs and leases, nothing restarted', async () => {
    await stopAgent();
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
    await assertIntact('plc-poll', lanA, polled.mac, polled.startedAt);
    await assertIntact('plc-py', lanB, PY_MAC, pyStartedAt, pyLease);
  });

  test('state.json and its backup unusable: rebuilt from the labels and the legacy files (adopted again), both runtimes intact', async () => {
    await stopAgent();
    for (const f of ['state.json', 'state.json.bak']) fs.writeFileSync(path.join(dataDir, f), '{"schemaVersion": 1, "runtimes": ');
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_NETMON_BOOT_WAIT_MS: '1000' }, dataDir));
    await waitFor('both back in the state', () => 'plc-poll' in agent.store.state.runtimes && typeof agent.store.state.runtimes['plc-py']?.adoption === 'object', 30_000, 100);
    await assertIntact('plc-poll', lanA, polled.mac, polled.startedAt);
    await assertIntact('plc-py', lanB, PY_MAC, pyStartedAt, pyLease);
  });
});
