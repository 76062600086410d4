// vNICs on a Wi-Fi parent end to end (CONTRACT §9.2), from cloud requests over mTLS: a veth declared Wi-Fi
// through ORCH_NETMON_WIFI_INTERFACES (named twl…: netmon ignores veth*) with the host's address on a LAN
// whose other end sits in a namespace with a busybox udhcpd. No MACVLAN: netmon builds the proxy-ARP path.
// Every sysctl the agent or the test may change is recorded first and restored after, even on failure.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { vethName } from '../../src/netmon/proxy-arp.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';
import { waitFor } from '../support/wait.js';

const id = randomBytes(3).toString('hex');
const WIFI = `twl${id}`;
const PEER = `twp${id}`;
const LAN_NS = `orch-wlan-${id}`;
const NET = '203.0.113';
const HOST_IP = `${NET}.1`;
const LAN_IP = `${NET}.62`; // the LAN's router, DHCP server and a LAN host
const SUBNET = `${NET}.0/26`;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inLan = (...args: string[]) => execFileSync('ip', ['netns', 'exec', LAN_NS, ...args], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
const SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', `/proc/sys/net/ipv4/conf/${WIFI}/proxy_arp`];
const earlier = new Map<string, string>();

let stack: CloudStack;
let netmon: NetmonProcess;
let netmonDir: string;
let serverDir: string;
let server: ChildProcess | null = null;

const status = (name: string) => stack.cloud.call('get_device_status', { correlation_id: `s-${name}`, device_id: name });
const netReady = async (name: string) => ((await status(name)).conditions as { type: string; status: string }[] | undefined)?.find((c) => c.type === 'NetworkReady')?.status === 'True';
const wifiNet = async (name: string, vnic: string) => ((await status(name)).networks as Record<string, { ip_address: string | null; mac_address: string | null; gateway: string | null }> | undefined)?.[`wifi_${WIFI}_${vnic}`];
const wifiMac = () => (JSON.parse(ip('-j', 'link', 'show', 'dev', WIFI)) as { address: string }[])[0]!.address;
const ping = (addr: string) => spawnSync('ip', ['netns', 'exec', LAN_NS, 'busybox', 'ping', '-c', '1', '-W', '3', addr], { stdio: 'ignore' }).status === 0;
/** What the host still has for a runtime's address: veth, /32 route, neighbour proxy. */
function leftovers(container: string, vnic: string, addr: string): string[] {
  const out: string[] = [];
  if (spawnSync('ip', ['link', 'show', 'dev', vethName(container, vnic)], { stdio: 'ignore' }).status === 0) out.push('veth');
  if (ip('-4', 'route', 'show', `${addr}/32`).trim() !== '') out.push('route');
  if (ip('neigh', 'show', 'proxy').includes(addr)) out.push('neigh proxy');
  return out;
}

describe('vNICs on a Wi-Fi parent: the proxy-ARP path', () => {
  before(async () => {
    // Another interface in this subnet would take the runtime's traffic (the host routes by prefix).
    if (ip('-4', '-o', 'addr').includes(` ${NET}.`)) throw new Error(`${NET}.0/24 is already used by an interface on this machine`);
    ip('netns', 'add', LAN_NS);
    ip('link', 'add', WIFI, 'type', 'veth', 'peer', 'name', PEER);
    ip('link', 'set', PEER, 'netns', LAN_NS);
    inLan('ip', 'addr', 'add', `${LAN_IP}/26`, 'dev', PEER);
    inLan('ip', 'link', 'set', PEER, 'up');
    inLan('ip', 'link', 'set', 'lo', 'up');
    ip('addr', 'add', `${HOST_IP}/26`, 'dev', WIFI);
    ip('link', 'set', WIFI, 'up');
    for (const p of SYSCTLS) earlier.set(p, fs.readFileSync(p, 'utf8').trim());
    serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-wudhcpd-'));
    const conf = path.join(serverDir, 'udhcpd.conf');
    fs.writeFileSync(path.join(serverDir, 'leases'), '');
    fs.writeFileSync(conf, [`start ${NET}.40`, `end ${NET}.50`, `interface ${PEER}`, `lease_file ${path.join(serverDir, 'leases')}`, `pidfile ${path.join(serverDir, 'pid')}`,
      'option subnet 255.255.255.192', `option router ${LAN_IP}`, `option dns ${LAN_IP}`, 'option lease 60', ''].join('\n'));
    server = spawn('ip', ['netns', 'exec', LAN_NS, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
    netmonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-wnetmon-'));
    netmon = new NetmonProcess(path.join(netmonDir, 'netmon.sock'), 100, { ORCH_NETMON_WIFI_INTERFACES: WIFI });
    await netmon.start();
    stack = await startCloudStack({ subnet: '198.51.100.0/25', agentId: 'agent-wifi', env: { ORCH_NETMON_SOCKET: netmon.socketPath } });
    await waitFor('netmon facts', async () => {
      const a = await stack.cloud.call('get_host_interfaces', { correlation_id: 'h0' });
      return (a.interfaces as { name: string; type: string }[] | undefined)?.find((i) => i.name === WIFI)?.type === 'wifi';
    }, 20_000);
  });
  after(async () => {
    if (process.env.ORCH_TEST_SHOW_LOGS && netmonDir) process.stderr.write(fs.readFileSync(path.join(netmonDir, 'netmon.sock.log'), 'utf8').slice(-6000));
    await stack?.teardown();
    await netmon?.stop();
    if (server && server.exitCode === null) server.kill('SIGTERM');
    spawnSync('ip', ['link', 'del', WIFI], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', LAN_NS], { stdio: 'ignore' });
    for (const [p, v] of earlier) if (fs.existsSync(p)) fs.writeFileSync(p, v);
    for (const d of [netmonDir, serverDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  // vNICs named eth0 like Docker's own first interface (the cloud's usual name): inside they are wl-eth0.
  test('static: no MACVLAN network; the LAN reaches the runtime at its address through the host, whose MAC it sees', async () => {
    const ack = await stack.cloud.call('create_new_runtime', { correlation_id: 'c1', container_name: 'plc-ws', vnic_configs: [{ name: 'eth0', parent_interface: WIFI, network_mode: 'static', ip: `${NET}.20`, subnet: SUBNET, gateway: LAN_IP }] });
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    await waitFor('NetworkReady', () => netReady('plc-ws'), 60_000, 200);
    assert.deepEqual(await wifiNet('plc-ws', 'eth0'), { ip_address: `${NET}.20`, mac_address: null, gateway: LAN_IP });
    const nets = Object.keys((await stack.engine.docker.getContainer('plc-ws').inspect()).NetworkSettings.Networks ?? {});
    assert.deepEqual(nets, ['plc-ws_internal'], 'no MACVLAN network on a Wi-Fi parent');
    assert.ok(ping(`${NET}.20`), 'the LAN reaches the runtime');
    const neigh = inLan('ip', 'neigh', 'show', `${NET}.20`);
    assert.match(neigh, new RegExp(`lladdr ${wifiMac()}`), `the LAN sees the host's Wi-Fi MAC for the runtime: ${neigh}`);
    assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
  });

  test('restart_device: the path follows the new namespace', async () => {
    const before = (await stack.engine.docker.getContainer('plc-ws').inspect()).State.StartedAt;
    await stack.cloud.call('restart_device', { correlation_id: 'r1', device_id: 'plc-ws' });
    await waitFor('restarted', async () => (await stack.engine.docker.getContainer('plc-ws').inspect()).State.StartedAt !== before, 30_000, 100);
    await waitFor('reachable again', () => ping(`${NET}.20`), 30_000, 300);
  });

  test('dhcp: the client on the Wi-Fi parent asks with the vNIC client id; the lease is the runtime address, reachable from the LAN', async () => {
    const ack = await stack.cloud.call('create_new_runtime', { correlation_id: 'c2', container_name: 'plc-wd', vnic_configs: [{ name: 'eth0', parent_interface: WIFI, network_mode: 'dhcp' }] });
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    const net = await waitFor('a lease', async () => {
      const n = await wifiNet('plc-wd', 'eth0');
      return n?.ip_address ? n : null;
    }, 60_000, 300);
    assert.match(net.ip_address!, new RegExp(`^${NET.replace(/\./g, '\\.')}\\.(4\\d|50)$`));
    assert.equal(net.gateway, LAN_IP);
    assert.equal(net.mac_address, null);
    await waitFor('NetworkReady', () => netReady('plc-wd'), 30_000, 200);
    await waitFor('reachable', () => ping(net.ip_address!), 20_000, 300);
    // netmon's client asks with the client id `<runtime>:<vnic>` (option 61): the lease follows the PLC, not the host.
    const client = await NetmonClient.connect(netmon.socketPath);
    try {
      const st = await client.ask({ command: 'proxy_arp_status', id: 'ps' });
      const c = (st.clients as { container_name: string; client_id: string; ip: string | null }[]).find((x) => x.container_name === 'plc-wd');
      assert.deepEqual([c?.client_id, c?.ip], ['plc-wd:eth0', net.ip_address]);
      const changes = st.host_changes as { kind: string }[];
      assert.equal(changes.filter((x) => x.kind === 'proxy_arp_path').length, 2, 'both paths owned');
      const state = JSON.parse(fs.readFileSync(path.join(stack.dataDir, 'state.json'), 'utf8')) as { host: { hostChanges: { kind: string }[] } };
      assert.ok(state.host.hostChanges.some((x) => x.kind === 'proxy_arp_path'), 'listed in the state file');
    } finally {
      client.close();
    }
  });

  test('netmon restarted: the paths stay (the PLCs keep their addresses), the DHCP client comes back with the same lease', async () => {
    const wd = (await wifiNet('plc-wd', 'eth0'))!.ip_address!;
    const pid = (await stack.engine.docker.getContainer('plc-wd').inspect()).State.Pid;
    assert.match(fs.readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), new RegExp(`nameserver ${LAN_IP.replace(/\./g, '\\.')}`), 'DNS from the lease');
    await netmon.stop();
    assert.ok(ping(`${NET}.20`) && ping(wd), 'reachable while netmon is away');
    await netmon.start();
    const client = await NetmonClient.connect(netmon.socketPath);
    try {
      let n = 0;
      const st = await waitFor('the client again, bound', async () => {
        const a = await client.ask({ command: 'proxy_arp_status', id: `ps${n++}` });
        const c = (a.clients as { container_name: string; ip: string | null }[]).find((x) => x.container_name === 'plc-wd');
        return c?.ip ? a : null;
      }, 60_000, 300);
      assert.equal((st.clients as { container_name: string; ip: string }[]).find((x) => x.container_name === 'plc-wd')!.ip, wd, 'the same lease');
      assert.equal((st.paths as unknown[]).length, 2, 'both paths taken over from the previous netmon');
    } finally {
      client.close();
    }
    assert.ok(ping(`${NET}.20`) && ping(wd));
  });

  test('delete: nothing is left on the host, and the sysctls are back when no runtime needs them', async () => {
    const wd = (await wifiNet('plc-wd', 'eth0'))!.ip_address!;
    for (const name of ['plc-ws', 'plc-wd']) await stack.cloud.call('delete_device', { correlation_id: `d-${name}`, device_id: name });
    for (const name of ['plc-ws', 'plc-wd']) await waitFor(`${name} deleted`, async () => (await status(name)).status === 'not_found', 60_000, 200);
    assert.deepEqual(leftovers('plc-ws', 'eth0', `${NET}.20`), []);
    assert.deepEqual(leftovers('plc-wd', 'eth0', wd), []);
    for (const [p, v] of earlier) assert.equal(fs.readFileSync(p, 'utf8').trim(), v, p);
    const state = JSON.parse(fs.readFileSync(path.join(stack.dataDir, 'state.json'), 'utf8')) as { host: { hostChanges: unknown[] } };
    assert.deepEqual(state.host.hostChanges, [], 'the state file lists nothing owned any more');
  });
});
