// Proxy-ARP paths for Wi-Fi parents (CONTRACT §9.2) with real namespaces and no Docker: the "Wi-Fi parent"
// is a veth whose host end is named twl… (netmon ignores veth*), its peer in a LAN namespace; a runtime is a
// process in its own network namespace (`unshare -n sleep`). Every sysctl, namespace, link and process the
// suite touches is recorded first and restored or removed after, even on failure.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { NetmonLog } from '../../src/netmon/daemon.js';
import { parseScriptLine } from '../../src/netmon/dhcp.js';
import type { DhcpUpdate } from '../../src/netmon/dhcp.js';
import { innerName, leaseToParams, ProxyArpPaths, vethName, WIFI_DHCP_SCRIPT, wifiClientId, WifiDhcpClients, wifiDhcpArgv, type HostChange, type ProxyArpParams } from '../../src/netmon/proxy-arp.js';
import { waitFor } from '../support/wait.js';

const sh = (cmd: string, args: string[], timeout = 20_000) => execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
const ip = (...args: string[]) => sh('ip', args);
const tryRun = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

const id = randomBytes(3).toString('hex');
const PARENT = `twl${id}`; // the "Wi-Fi" interface on the host
const LAN_PEER = `twp${id}`;
const LAN_NS = `orch-wlan-${id}`;
let NET = ''; // 198.18.<x>
const hostIp = () => `${NET}.1`;
const lanIp = () => `${NET}.254`; // the LAN's router and a LAN host
const rtIp = (n: number) => `${NET}.${50 + n}`;

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const sysctlsBefore = new Map<string, string>();
const readSys = (p: string) => fs.readFileSync(p, 'utf8').trim();
let forwardPolicy: string | null = null;

const runtimes = new Set<ChildProcess>();
/** A "runtime": a sleeping process in a network namespace of its own. */
async function startRuntime(): Promise<ChildProcess> {
  const child = spawn('unshare', ['-n', 'sleep', '1000'], { stdio: 'ignore' });
  runtimes.add(child);
  const own = fs.readlinkSync('/proc/self/ns/net');
  await waitFor('the runtime namespace', () => {
    try {
      return fs.readlinkSync(`/proc/${child.pid}/ns/net`) !== own;
    } catch {
      return false;
    }
  }, 5000, 20);
  return child;
}
async function stopRuntime(child: ChildProcess): Promise<void> {
  runtimes.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

const logs: { level: string; msg: string; o: object }[] = [];
const log: NetmonLog = {
  info: (o, msg) => void logs.push({ level: 'info', msg, o }),
  warn: (o, msg) => void logs.push({ level: 'warn', msg, o }),
};
let dir = '';
const made: ProxyArpPaths[] = [];
const newPaths = (stateFile = path.join(dir, 'netmon-proxy-arp.json')) => {
  const p = new ProxyArpPaths({ log, stateFile });
  made.push(p);
  return p;
};
const params = (rt: ChildProcess, n: number, over: Partial<ProxyArpParams> = {}): ProxyArpParams => ({
  container_name: `plc-wifi-${id}-${n}`,
  vnic_name: 'eth1',
  pid: rt.pid!,
  parent: PARENT,
  ip: rtIp(n),
  prefix: 24,
  gateway: lanIp(),
  ...over,
});

/** From the LAN: one ping of `addr` (a proxied ARP answer waits up to proxy_delay, 0.8 s). */
const lanPing = (addr: string) => tryRun('ip', ['netns', 'exec', LAN_NS, 'busybox', 'ping', '-c', '1', '-W', '3', addr]);
const reachable = (addr: string) => waitFor(`${addr} answering the LAN`, () => lanPing(addr), 15_000, 200);
const parentMac = () => readSys(`/sys/class/net/${PARENT}/address`);
const hostRoutes = () => ip('-4', 'route', 'show').split('\n').filter((l) => l.startsWith(`${NET}.`) && !l.includes(PARENT)).join('\n');
const neighProxies = () => ip('neigh', 'show', 'proxy').split('\n').filter((l) => l.includes(`${NET}.`)).join('\n');
const ourVeths = () => ip('-o', 'link', 'show').split('\n').filter((l) => /veth[0-9a-f]{8}[@:]/.test(l)).map((l) => l.split(': ')[1]!.split('@')[0]!);
const vethsOf = (names: string[]) => ourVeths().filter((v) => names.includes(v));
/** Everything setup() could change, for "the same setup again changes nothing". */
function snapshot(pids: number[]): string {
  const inside = pids.map((pid) => sh('nsenter', ['-t', String(pid), '-n', 'sh', '-c', 'ip -o link show; ip -o addr show; ip route show']).replace(/\s+link\/ether.*$/gm, '').replace(/ tentative\b/g, '')); // IPv6 DAD ends on its own a second after link up
  return JSON.stringify({
    links: ip('-o', 'link', 'show').split('\n').filter((l) => /veth[0-9a-f]{8}|twl/.test(l)),
    routes: ip('-4', 'route', 'show'),
    proxies: neighProxies(),
    sysctls: [IP_FORWARD, `/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`].map(readSys),
    forward: sh('iptables', ['-S', 'FORWARD']),
    inside,
  });
}

describe('proxy-ARP paths (Wi-Fi parents)', () => {
  before(() => {
    sysctlsBefore.set(IP_FORWARD, readSys(IP_FORWARD));
    sysctlsBefore.set('/proc/sys/net/ipv4/conf/all/proxy_arp', readSys('/proc/sys/net/ipv4/conf/all/proxy_arp'));
    try {
      forwardPolicy = /^-P FORWARD (\w+)/m.exec(sh('iptables', ['-S', 'FORWARD']))?.[1] ?? null;
    } catch {
      forwardPolicy = null;
    }
    // 198.18.0.0/15 (RFC 2544 benchmarking): never routed off the machine; a /24 no interface uses yet.
    const used = ip('-4', '-o', 'addr');
    for (let x = 200 + Math.floor(Math.random() * 40); x < 250; x++) {
      if (!used.includes(` 198.18.${x}.`)) {
        NET = `198.18.${x}`;
        break;
      }
    }
    assert.ok(NET, 'no free 198.18.x.0/24 for the test LAN');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-proxy-arp-'));
    ip('netns', 'add', LAN_NS);
    ip('link', 'add', PARENT, 'type', 'veth', 'peer', 'name', LAN_PEER);
    ip('link', 'set', LAN_PEER, 'netns', LAN_NS);
    ip('netns', 'exec', LAN_NS, 'ip', 'addr', 'add', `${lanIp()}/24`, 'dev', LAN_PEER);
    ip('netns', 'exec', LAN_NS, 'ip', 'link', 'set', LAN_PEER, 'up');
    ip('netns', 'exec', LAN_NS, 'ip', 'link', 'set', 'lo', 'up');
    ip('addr', 'add', `${hostIp()}/24`, 'dev', PARENT);
    ip('link', 'set', PARENT, 'up');
    sysctlsBefore.set(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`, readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`));
  });

  afterEach(async () => {
    for (const p of made.splice(0)) await p.teardownAll().catch(() => undefined);
    for (const r of [...runtimes]) await stopRuntime(r);
  });

  after(async () => {
    for (const p of made.splice(0)) await p.teardownAll().catch(() => undefined);
    for (const r of [...runtimes]) await stopRuntime(r);
    if (forwardPolicy) tryRun('iptables', ['-P', 'FORWARD', forwardPolicy]);
    for (const [p, v] of sysctlsBefore) {
      try {
        if (readSys(p) !== v) fs.writeFileSync(p, v);
      } catch {
        /* the test parent is gone */
      }
    }
    spawnSync('ip', ['link', 'del', PARENT], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', LAN_NS], { stdio: 'ignore' });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('names, the Wi-Fi DHCP argv and its script output', () => {
    const v = vethName('plc-a', 'eth1');
    assert.match(v, /^veth[0-9a-f]{8}$/);
    assert.equal(v, vethName('plc-a', 'eth1'));
    assert.notEqual(v, vethName('plc-a', 'eth2'));
    assert.equal(wifiClientId('plc-a', 'eth1'), 'plc-a:eth1');
    const argv = wifiDhcpArgv({ parent: 'wlan0', scriptPath: '/tmp/s.sh', clientId: wifiClientId('plc-a', 'eth1'), hostname: 'plc-a', requestIp: '198.18.1.7' });
    assert.deepEqual(argv, ['udhcpc', '-f', '-i', 'wlan0', '-s', '/tmp/s.sh', '-t', '3', '-T', '2', '-A', '5', '-C', '-x', `0x3d:${Buffer.from('plc-a:eth1').toString('hex')}`, '-x', 'hostname:plc-a', '-r', '198.18.1.7']);
    assert.ok(!argv.includes('-R') && !argv.includes('-b'), 'the lease is never released or backgrounded');
    assert.throws(() => wifiDhcpArgv({ parent: 'wlan0; reboot', scriptPath: '/s', clientId: 'a:b' }), /parent/);
    // busybox understands the option-61 spelling (it refuses a bad one before touching the network).
    const bad = spawnSync('busybox', ['udhcpc', '-i', 'nonexistent0', '-x', '0x3d:zz', '-n', '-q', '-t', '1', '-T', '1'], { encoding: 'utf8', timeout: 10_000 });
    const good = spawnSync('busybox', ['udhcpc', '-i', 'nonexistent0', '-C', '-x', `0x3d:${Buffer.from('a:b').toString('hex')}`, '-n', '-q', '-t', '1', '-T', '1'], { encoding: 'utf8', timeout: 10_000 });
    assert.match(bad.stderr, /malformed hex/);
    assert.doesNotMatch(good.stderr, /malformed|invalid/i);
    // The script's line is dhcp.ts's format: a bound lease parses into the path to build.
    const script = path.join(dir, 'wifi.sh');
    fs.writeFileSync(script, WIFI_DHCP_SCRIPT, { mode: 0o755 });
    const out = execFileSync(script, ['bound'], { encoding: 'utf8', env: { interface: 'wlan0', ip: '198.18.1.7', mask: '24', subnet: '255.255.255.0', router: '198.18.1.254 198.18.1.253', dns: '198.18.1.254', lease: '600', mtu: '', staticroutes: '' } });
    const parsed = parseScriptLine(out.replace(/\n$/, ''));
    assert.equal(parsed?.event, 'bound');
    assert.deepEqual(leaseToParams('plc-a', 'eth1', 1234, 'wlan0', parsed.lease!), { container_name: 'plc-a', vnic_name: 'eth1', pid: 1234, parent: 'wlan0', ip: '198.18.1.7', prefix: 24, gateway: '198.18.1.254' });
  });

  test('a static address: reachable from the LAN behind the parent MAC; again changes nothing; teardown leaves nothing', async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    const p = params(rt, 1);
    assert.equal(lanPing(p.ip), false, 'nothing answers before the path');
    const built = await paths.setup(p);
    assert.equal(built.veth, vethName(p.container_name, 'eth1'));
    await reachable(p.ip);
    const neigh = JSON.parse(ip('netns', 'exec', LAN_NS, 'ip', '-j', 'neigh', 'show', p.ip)) as { lladdr?: string }[];
    assert.equal(neigh[0]?.lladdr, parentMac(), 'the LAN sees the runtime at the parent (associated) MAC');
    // The runtime: the address with the LAN's prefix, a default route via the gateway through the veth, and it reaches the LAN.
    const inside = sh('nsenter', ['-t', String(rt.pid), '-n', 'sh', '-c', 'ip -4 -o addr show dev wl-eth1; ip route show default']);
    assert.match(inside, new RegExp(`inet ${p.ip.replace(/\./g, '\\.')}/24 `));
    assert.match(inside, new RegExp(`default via ${lanIp().replace(/\./g, '\\.')} dev wl-eth1 onlink`));
    assert.ok(tryRun('nsenter', ['-t', String(rt.pid), '-n', 'busybox', 'ping', '-c', '1', '-W', '3', lanIp()]), 'the runtime reaches the LAN');
    assert.equal(readSys(IP_FORWARD), '1');
    assert.equal(readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`), '1');
    const changes = paths.hostChanges();
    const fwd = changes.find((c): c is Extract<HostChange, { kind: 'sysctl' }> => c.kind === 'sysctl' && c.path === IP_FORWARD);
    assert.deepEqual(fwd && { earlier: fwd.earlier, name: fwd.name }, { earlier: sysctlsBefore.get(IP_FORWARD), name: 'net.ipv4.ip_forward' });
    assert.ok(changes.some((c) => c.kind === 'sysctl' && c.name === `net.ipv4.conf.${PARENT}.proxy_arp`));
    assert.ok(changes.some((c) => c.kind === 'proxy_arp_path' && c.ip === p.ip && c.veth === built.veth && c.route === `${p.ip}/32`));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'netmon-proxy-arp.json'), 'utf8')), { version: 1, changes });

    const before = snapshot([rt.pid!]);
    const nLogs = logs.length;
    await paths.setup(p);
    await paths.setup({ ...p });
    assert.equal(snapshot([rt.pid!]), before, 'the same setup again changes nothing');
    assert.ok(!logs.slice(nLogs).some((l) => l.msg === 'proxy-ARP path ready'));

    // A piece someone removed is put back by the same setup.
    ip('neigh', 'del', 'proxy', p.ip, 'dev', PARENT);
    await paths.setup(p);
    assert.match(neighProxies(), new RegExp(p.ip.replace(/\./g, '\\.')));

    assert.equal(await paths.teardown(p.container_name), 1);
    assert.deepEqual(vethsOf([built.veth]), []);
    assert.equal(hostRoutes(), '');
    assert.equal(neighProxies(), '');
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    assert.equal(readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`), sysctlsBefore.get(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`));
    assert.deepEqual(paths.hostChanges(), []);
    assert.deepEqual(paths.list(), []);
    assert.equal(await paths.teardown(p.container_name), 0, 'a second teardown is a no-op');
  });

  test('two runtimes: the sysctls stay on until the second path goes', async () => {
    const paths = newPaths();
    const [a, b] = [await startRuntime(), await startRuntime()];
    await paths.setup(params(a, 1));
    await paths.setup(params(b, 2));
    await reachable(rtIp(1));
    await reachable(rtIp(2));
    assert.equal(paths.list().length, 2);
    await assert.rejects(paths.setup(params(b, 3, { ip: rtIp(1) })), /already the address/);
    await paths.teardown(params(a, 1).container_name, 'eth1');
    assert.equal(readSys(IP_FORWARD), '1');
    assert.equal(readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`), '1');
    assert.ok(lanPing(rtIp(2)), 'the other runtime stays reachable');
    assert.equal(lanPing(rtIp(1)), false);
    const sys = paths.hostChanges().filter((c) => c.kind === 'sysctl');
    assert.ok(sys.every((s) => s.kind === 'sysctl' && s.needed_by.length === 1 && s.needed_by[0] === `${params(b, 2).container_name}/eth1`));
    await paths.teardown(params(b, 2).container_name);
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    assert.equal(readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`), sysctlsBefore.get(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`));
    assert.equal(neighProxies(), '');
    assert.equal(hostRoutes(), '');
  });

  test('a container restart (new namespace, new pid) and a new address rebuild the path', async () => {
    const paths = newPaths();
    const rt1 = await startRuntime();
    const p = params(rt1, 1);
    await paths.setup(p);
    await reachable(p.ip);
    await stopRuntime(rt1); // the namespace goes, and the veth with it
    await waitFor('the veth gone with the namespace', () => vethsOf([vethName(p.container_name, 'eth1')]).length === 0, 5000);
    assert.equal(lanPing(p.ip), false);
    const rt2 = await startRuntime();
    await paths.setup({ ...p, pid: rt2.pid! });
    await reachable(p.ip);
    assert.equal(paths.list()[0]?.pid, rt2.pid);
    // A new address (a subnet change, or a new lease): the old one is no longer answered for.
    await paths.setup({ ...p, pid: rt2.pid!, ip: rtIp(9) });
    await reachable(rtIp(9));
    assert.doesNotMatch(neighProxies(), new RegExp(`${p.ip.replace(/\./g, '\\.')} `));
    assert.equal(neighProxies().split('\n').length, 1);
    assert.equal(hostRoutes().split('\n').length, 1);
    assert.equal(readSys(IP_FORWARD), '1', 'the sysctls never flap while a path is rebuilt');
    await paths.teardownAll();
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    assert.equal(hostRoutes(), '');
    // Teardown after the runtime died: nothing left to remove is not an error.
    const rt3 = await startRuntime();
    await paths.setup({ ...p, pid: rt3.pid! });
    await stopRuntime(rt3);
    assert.equal(await paths.reap(), 1, 'a path whose runtime died is reaped');
    assert.equal(neighProxies(), '');
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    await paths.setup({ ...p, pid: (await startRuntime()).pid! });
    assert.equal(await paths.reap(), 0, 'a live path is not reaped');
    for (const r of [...runtimes]) await stopRuntime(r);
    assert.equal(await paths.teardown(p.container_name), 1);
    assert.equal(neighProxies(), '');
    assert.ok(!logs.some((l) => l.msg === 'proxy-ARP path removed with errors'));
  });

  test('a netmon restart keeps the earlier sysctl values (own file, or the list the agent hands back)', async () => {
    const file = path.join(dir, 'restart.json');
    const first = newPaths(file);
    const rt = await startRuntime();
    const p = params(rt, 1);
    await first.setup(p);
    const owned = first.hostChanges();
    made.splice(made.indexOf(first), 1); // netmon dies: nothing is torn down
    // The next netmon starts while ip_forward is 1: the earlier value comes from the file.
    const second = newPaths(file);
    assert.deepEqual(second.load(), { sysctls: 2, paths: 1, skipped: 0 });
    assert.deepEqual(second.hostChanges(), owned);
    const before = snapshot([rt.pid!]);
    await second.setup(p); // the agent's resync: the same values change nothing
    assert.equal(snapshot([rt.pid!]), before);
    await reachable(p.ip);
    // Without a file, from the agent's state file (malformed entries are skipped, never acted on).
    const third = new ProxyArpPaths({ log, stateFile: null });
    assert.deepEqual(third.adopt([...owned, { kind: 'sysctl', path: '/proc/sys/kernel/panic', earlier: '0', value: '1' }, { kind: 'proxy_arp_path', container_name: 'x', vnic_name: 'eth1;', pid: 5 }]), { sysctls: 2, paths: 1, skipped: 2 });
    made.splice(made.indexOf(second), 1);
    made.push(third);
    await third.teardownAll();
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    assert.equal(readSys(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`), sysctlsBefore.get(`/proc/sys/net/ipv4/conf/${PARENT}/proxy_arp`));
    assert.equal(neighProxies(), '');
    assert.deepEqual(vethsOf([vethName(p.container_name, 'eth1')]), []);
  });

  test('the inside name is wl-<vnic>, never one of Docker\'s ethN; a taken one is refused, and nothing is left behind', async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    // Docker's own interfaces are eth0, eth1, …: a vNIC named like them does not clash.
    sh('nsenter', ['-t', String(rt.pid), '-n', 'ip', 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
    const built = await paths.setup(params(rt, 1));
    assert.equal(built.ifname, 'wl-eth1');
    await paths.teardown(built.container_name);
    assert.equal(innerName('My LAN port with a long name'), `wl-${createHash('sha256').update('My LAN port with a long name').digest('hex').slice(0, 8)}`);
    sh('nsenter', ['-t', String(rt.pid), '-n', 'ip', 'link', 'add', 'wl-eth1', 'type', 'veth', 'peer', 'name', 'wl-eth1p']);
    await assert.rejects(paths.setup(params(rt, 1)), /already has an interface named wl-eth1/);
    assert.deepEqual(paths.hostChanges(), []);
    assert.equal(neighProxies(), '');
    assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
    await assert.rejects(paths.setup(params(rt, 1, { parent: 'nosuchif0' })), /no interface nosuchif0/);
    await assert.rejects(paths.setup(params(rt, 1, { vnic_name: 'eth1/up' })), /vnic_name/);
  });

  test('DHCP over Wi-Fi: the lease is asked on the parent with the vNIC client id; the path follows it; the host interface is untouched', async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    const srvDir = fs.mkdtempSync(path.join(dir, 'udhcpd-'));
    const conf = path.join(srvDir, 'udhcpd.conf');
    fs.writeFileSync(path.join(srvDir, 'leases'), '');
    fs.writeFileSync(conf, [`start ${NET}.100`, `end ${NET}.110`, `interface ${LAN_PEER}`, `lease_file ${path.join(srvDir, 'leases')}`, `pidfile ${path.join(srvDir, 'pid')}`, 'option subnet 255.255.255.0', `option router ${lanIp()}`, 'option lease 600', ''].join('\n'));
    const server = spawn('ip', ['netns', 'exec', LAN_NS, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
    const events: DhcpUpdate[] = [];
    const clients = new WifiDhcpClients(paths, (e) => void events.push(e), log);
    const hostAddrs = ip('-4', '-o', 'addr', 'show', 'dev', PARENT);
    try {
      const name = `plc-wdhcp-${id}`;
      assert.deepEqual(await clients.start({ container_name: name, vnic_name: 'eth1', pid: rt.pid!, parent: PARENT }), { started: true });
      const bound = await waitFor('a Wi-Fi lease', () => events.find((e) => e.event === 'bound'), 30_000);
      assert.match(bound.ip ?? '', new RegExp(`^${NET.replace(/\./g, '\\.')}\\.1(0\\d|10)$`));
      assert.deepEqual([bound.prefix, bound.gateway, bound.mac_address], [24, lanIp(), parentMac()]);
      await reachable(bound.ip!);
      assert.equal(paths.list()[0]?.ip, bound.ip);
      assert.equal(ip('-4', '-o', 'addr', 'show', 'dev', PARENT), hostAddrs, 'the host interface is never configured');
      assert.deepEqual(await clients.start({ container_name: name, vnic_name: 'eth1', pid: rt.pid!, parent: PARENT }), { started: false });
      // A container restart: the lease stays, the path moves to the new namespace.
      await stopRuntime(rt);
      const rt2 = await startRuntime();
      assert.deepEqual(await clients.start({ container_name: name, vnic_name: 'eth1', pid: rt2.pid!, parent: PARENT }), { started: false });
      await reachable(bound.ip!);
      const hex = Buffer.from(`${name}:eth1`).toString('hex');
      const cmdlines = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => {
        try {
          return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        } catch {
          return [];
        }
      });
      const ours = cmdlines.filter((c) => c.includes('udhcpc') && c.includes(`0x3d:${hex}`) && c.includes(PARENT));
      assert.equal(ours.length, 1, 'one client, on the parent, with the vNIC client id');
      const script = ours[0]![ours[0]!.indexOf('-s') + 1]!;
      assert.equal(await clients.stop(name), 1);
      assert.deepEqual(paths.list(), []);
      assert.equal(neighProxies(), '');
      assert.equal(readSys(IP_FORWARD), sysctlsBefore.get(IP_FORWARD));
      assert.ok(fs.existsSync(script), script);
      clients.stopAll(); // netmon stops: its script directory goes with it
      assert.ok(!fs.existsSync(path.dirname(script)), `${path.dirname(script)} left behind`);
    } finally {
      clients.stopAll();
      server.kill('SIGTERM');
    }
  });

  test('issue #22: a static address or a rogue server\'s lease for the gateway, the host, the network, broadcast, multicast or another subnet makes no path', async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    const before = snapshot([rt.pid!]);
    const bad: [string, RegExp][] = [
      [lanIp(), /is the gateway/],
      [hostIp(), /is the host's own address/],
      [`${NET}.0`, /is the network address/],
      [`${NET}.255`, /is the broadcast address/],
      ['224.0.0.5', /is not a unicast host address/],
      ['203.0.113.9', /is outside the parent's subnets/],
    ];
    for (const [addr, why] of bad) await assert.rejects(paths.setup(params(rt, 1, { ip: addr })), why, addr);
    assert.equal(snapshot([rt.pid!]), before, 'nothing made on the host or in the runtime');
    // A rogue DHCP server on the Wi-Fi LAN: it hands the parent's MAC (the client's) each bad address in turn.
    const events: DhcpUpdate[] = [];
    const clients = new WifiDhcpClients(paths, (e) => void events.push(e), log);
    const name = `plc-rogue-${id}`;
    try {
      for (const [addr, why] of bad.filter(([a]) => !a.startsWith('224.'))) {
        const srvDir = fs.mkdtempSync(path.join(dir, 'rogue-'));
        const conf = path.join(srvDir, 'udhcpd.conf');
        fs.writeFileSync(path.join(srvDir, 'leases'), '');
        fs.writeFileSync(conf, [`start ${NET}.100`, `end ${NET}.110`, `interface ${LAN_PEER}`, `lease_file ${path.join(srvDir, 'leases')}`, `pidfile ${path.join(srvDir, 'pid')}`, `static_lease ${parentMac()} ${addr}`, 'option subnet 255.255.255.0', `option router ${lanIp()}`, 'option lease 600', ''].join('\n'));
        const server = spawn('ip', ['netns', 'exec', LAN_NS, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
        try {
          events.length = 0;
          assert.deepEqual(await clients.start({ container_name: name, vnic_name: 'eth1', pid: rt.pid!, parent: PARENT }), { started: true });
          const failed = await waitFor(`the lease of ${addr} refused`, () => events.find((e) => e.event === 'failed' && /lease not applied/.test(e.message ?? '')), 30_000);
          assert.match(failed.message ?? '', why, addr);
          assert.ok(!events.some((e) => e.event === 'bound'), `${addr}: ${JSON.stringify(events)}`);
          assert.deepEqual(paths.list(), [], addr);
          assert.equal(snapshot([rt.pid!]), before, `${addr}: nothing made`);
        } finally {
          await clients.stop(name);
          server.kill('SIGTERM');
        }
      }
    } finally {
      clients.stopAll();
    }
  });

  test('a FORWARD chain that drops: accept rules for the path, removed with it', { skip: forwardPolicyUnknown() }, async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    const p = params(rt, 1);
    sh('iptables', ['-P', 'FORWARD', 'DROP']);
    try {
      const built = await paths.setup(p);
      assert.equal(built.forward_rules.length, 2);
      await reachable(p.ip);
      assert.match(sh('iptables', ['-S', 'FORWARD']), new RegExp(`-i ${built.veth} -o ${PARENT} -j ACCEPT`));
      const before = snapshot([rt.pid!]);
      await paths.setup(p);
      assert.equal(snapshot([rt.pid!]), before);
      await paths.teardown(p.container_name);
      assert.doesNotMatch(sh('iptables', ['-S', 'FORWARD']), new RegExp(built.veth));
    } finally {
      if (forwardPolicy) sh('iptables', ['-P', 'FORWARD', forwardPolicy]);
    }
  });

  test('a FORWARD chain that cannot be read once (xtables lock busy) during a renew: the path keeps its accept rules', { skip: forwardPolicyUnknown() }, async () => {
    const paths = newPaths();
    const rt = await startRuntime();
    const p = params(rt, 1);
    // A shim ahead of the real iptables on PATH: its first `-S FORWARD` fails as a held lock does (exit 4).
    const real = sh('sh', ['-c', 'command -v iptables']).trim();
    const shimDir = fs.mkdtempSync(path.join(dir, 'shim-'));
    const flag = path.join(shimDir, 'failed-once');
    fs.writeFileSync(path.join(shimDir, 'iptables'), `#!/bin/sh\ncase " $* " in *" -S FORWARD "*) if [ ! -e '${flag}' ]; then : > '${flag}'; echo 'Another app is currently holding the xtables lock.' >&2; exit 4; fi;; esac\nexec '${real}' "$@"\n`, { mode: 0o755 });
    const pathBefore = process.env.PATH;
    sh('iptables', ['-P', 'FORWARD', 'DROP']);
    try {
      const built = await paths.setup(p);
      assert.equal(built.forward_rules.length, 2);
      await reachable(p.ip);
      const rulesBefore = sh('iptables', ['-S', 'FORWARD']);
      process.env.PATH = `${shimDir}:${pathBefore}`;
      const renewed = await paths.setup(p); // what a lease renew does: the same path set up again
      process.env.PATH = pathBefore;
      assert.ok(fs.existsSync(flag), 'the shim failed one read');
      assert.equal(renewed.forward_rules.length, 2, 'the rules are still the path’s');
      assert.equal(sh('iptables', ['-S', 'FORWARD']), rulesBefore, 'no rule removed');
      await reachable(p.ip);
      assert.ok(logs.some((l) => /FORWARD chain not readable/.test(l.msg)));
      await paths.teardown(p.container_name);
      assert.doesNotMatch(sh('iptables', ['-S', 'FORWARD']), new RegExp(built.veth));
    } finally {
      process.env.PATH = pathBefore;
      if (forwardPolicy) sh('iptables', ['-P', 'FORWARD', forwardPolicy]);
    }
  });
});

function forwardPolicyUnknown(): boolean | string {
  try {
    execFileSync('iptables', ['-S', 'FORWARD'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'no usable iptables on this machine';
  }
}
