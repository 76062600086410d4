// netmon's parsers on recorded output: `ip -j addr show` / `ip -j -4 route show` (iproute2 6.1, a veth
// pair eth7/eth8 and a MACVLAN mv0 in a scratch namespace) and garbage. The `ip` that readIfaces runs
// is a fake on PATH that prints the recordings, so its reading is tested too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildIfaces, readIfaces } from '../../src/netmon/interface-facts.js';
import { changeEvent, commandSchema, ifaceOfChange, ifaceSchema, isIgnoredInterface, netmonEventSchema, parseCommand, type Iface } from '../../src/netmon/protocol.js';
import { routeGet } from '../../src/netmon/nic.js';
import { lineLogger, sidecarConfig } from '../../src/netmon/sidecar.js';

const ADDR_JSON = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link":"eth7","ifname":"eth8","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"c6:c6:f5:34:1f:c3","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local":"fe80::c4c6:f5ff:fe34:1fc3","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":3,"link":"eth8","ifname":"eth7","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"02:00:00:00:07:07","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"198.51.100.5","prefixlen":24,"scope":"global","label":"eth7","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::ff:fe00:707","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":4,"link":"eth7","ifname":"mv0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"1e:21:5e:7e:cd:e2","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"203.0.113.9","prefixlen":28,"scope":"global","label":"mv0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::1c21:5eff:fe7e:cde2","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":5,"link":"eth8","ifname":"vethB","flags":["BROADCAST","MULTICAST","M-DOWN"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","group":"default","txqlen":1000,"link_type":"ether","address":"4a:74:b4:f1:4e:3e","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[]}]`;
const ROUTE_JSON = `[{"dst":"default","gateway":"198.51.100.1","dev":"eth7","flags":[]},{"dst":"198.51.100.0/24","dev":"eth7","protocol":"kernel","scope":"link","prefsrc":"198.51.100.5","flags":[]},{"dst":"203.0.113.0/28","dev":"mv0","protocol":"kernel","scope":"link","prefsrc":"203.0.113.9","flags":[]}]`;

const NOW = new Date('2024-05-01T10:00:00.000Z');
type IpAddrs = Parameters<typeof buildIfaces>[0];
type IpRoutes = Parameters<typeof buildIfaces>[1];
const addrs = () => JSON.parse(ADDR_JSON) as IpAddrs;
const routes = () => JSON.parse(ROUTE_JSON) as IpRoutes;

describe('buildIfaces on recorded `ip -j` output', () => {
  test('reports the ethernet links, not lo or veth*; IPv4 only; the default gateway on its own link', () => {
    const got = buildIfaces(addrs(), routes(), new Set(), NOW);
    assert.deepEqual(got, [
      { interface: 'eth8', index: 2, operstate: 'up', type: 'ethernet', mac_address: 'c6:c6:f5:34:1f:c3', ipv4_addresses: [], gateway: null, timestamp: NOW.toISOString() },
      {
        interface: 'eth7', index: 3, operstate: 'up', type: 'ethernet', mac_address: '02:00:00:00:07:07',
        ipv4_addresses: [{ address: '198.51.100.5', prefixlen: 24, subnet: '198.51.100.0/24', network_address: '198.51.100.0' }],
        gateway: '198.51.100.1', timestamp: NOW.toISOString(), default_route: true,
      },
      {
        interface: 'mv0', index: 4, operstate: 'up', type: 'ethernet', mac_address: '1e:21:5e:7e:cd:e2',
        ipv4_addresses: [{ address: '203.0.113.9', prefixlen: 28, subnet: '203.0.113.0/28', network_address: '203.0.113.0' }],
        gateway: null, timestamp: NOW.toISOString(),
      },
    ]);
    for (const i of got) assert.ok(ifaceSchema.safeParse(i).success, i.interface);
  });

  test('a link that is not up says status "down"; UNKNOWN counts as up only with the UP flag', () => {
    const base = { address: '02:00:00:00:00:01', link_type: 'ether', addr_info: [] };
    const got = buildIfaces(
      [
        { ...base, ifindex: 10, ifname: 'eth1', operstate: 'DOWN', flags: ['BROADCAST', 'MULTICAST'] },
        { ...base, ifindex: 11, ifname: 'eth2', operstate: 'LOWERLAYERDOWN', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'] },
        { ...base, ifindex: 12, ifname: 'eth3', operstate: 'UNKNOWN', flags: ['BROADCAST', 'UP', 'LOWER_UP'] },
        { ...base, ifindex: 13, ifname: 'eth4', operstate: 'UNKNOWN', flags: ['BROADCAST'] },
        { ...base, ifindex: 14, ifname: 'eth5', operstate: 'UNKNOWN' },
        { ...base, ifindex: 15, ifname: 'eth6', operstate: 'UP' },
      ],
      [],
      new Set(),
      NOW,
    );
    assert.deepEqual(
      got.map((i) => [i.interface, i.operstate, i.status]),
      [['eth1', 'down', 'down'], ['eth2', 'lowerlayerdown', 'down'], ['eth3', 'unknown', undefined], ['eth4', 'unknown', 'down'], ['eth5', 'unknown', 'down'], ['eth6', 'up', undefined]],
    );
    assert.ok(got.filter((i) => i.status === undefined).every((i) => !('status' in i)), 'an up link carries no status field at all');
  });

  test('a wireless name is type wifi; ignored names and non-ethernet links are left out', () => {
    const names = ['wlan0', 'eth0', 'lo', 'docker0', 'br-1a2b', 'veth9f', 'virbr0', 'macvtap0', 'tailscale0', 'wg0', 'zt0', 'cni0', 'flannel.1', 'cilium_host'];
    const got = buildIfaces(
      [
        ...names.map((ifname, i) => ({ ifindex: i + 1, ifname, operstate: 'UP', link_type: 'ether' })),
        { ifindex: 50, ifname: 'tun0', operstate: 'UNKNOWN', flags: ['UP'], link_type: 'none' },
        { ifindex: 51, ifname: 'ppp0', operstate: 'UNKNOWN', flags: ['UP'], link_type: 'ppp' },
        { ifindex: 52, ifname: 'can0', operstate: 'UP', link_type: 'can' },
        { ifindex: 53, ifname: 'enp1s0', operstate: 'UP' }, // no link_type at all: taken as ethernet
      ],
      [],
      new Set(['wlan0']),
      NOW,
    );
    assert.deepEqual(got.map((i) => [i.interface, i.type]), [['wlan0', 'wifi'], ['eth0', 'ethernet'], ['enp1s0', 'ethernet']]);
  });

  test('Wi-Fi by sysfs or by name (wlan*, wlp*, wlx*; CONTRACT §9.2); nothing else by name', () => {
    const names = ['wlan1', 'wlp2s0', 'wlx00c0ca123456', 'radio0', 'eth0', 'enp3s0', 'wl0', 'awlan0'];
    const got = buildIfaces(names.map((ifname, i) => ({ ifindex: i + 1, ifname, operstate: 'UP', link_type: 'ether' })), [], new Set(['radio0']), NOW);
    assert.deepEqual(got.map((i) => [i.interface, i.type]), [
      ['wlan1', 'wifi'], ['wlp2s0', 'wifi'], ['wlx00c0ca123456', 'wifi'], ['radio0', 'wifi'], ['eth0', 'ethernet'], ['enp3s0', 'ethernet'], ['wl0', 'ethernet'], ['awlan0', 'ethernet'],
    ]);
  });

  test('default_route: true on every link a default route leaves through (multipath too), absent elsewhere', () => {
    const got = buildIfaces(
      ['eth0', 'eth1', 'eth2', 'eth3', 'eth4'].map((ifname, i) => ({ ifindex: i + 1, ifname, operstate: 'UP' })),
      [
        { dst: 'default', gateway: '198.51.100.1', dev: 'eth0' },
        { dst: '203.0.113.0/24', gateway: '198.51.100.9', dev: 'eth1' }, // a gateway, but not the default
        { dst: 'default', nexthops: [{ gateway: '203.0.113.1', dev: 'eth2' }, { gateway: '203.0.113.65', dev: 'eth3' }] },
      ],
      new Set(),
      NOW,
    );
    assert.deepEqual(got.map((i) => [i.interface, i.default_route, i.gateway]), [
      ['eth0', true, '198.51.100.1'], ['eth1', undefined, null], ['eth2', true, '203.0.113.1'], ['eth3', true, '203.0.113.65'], ['eth4', undefined, null],
    ]);
    assert.ok(!('default_route' in got[1]!) && !('default_route' in got[4]!), 'absent, not false');
    for (const i of got) assert.ok(ifaceSchema.safeParse(i).success, i.interface);
  });

  test('sparse entries (no flags, no address, no addr_info) and odd routes do not break it', () => {
    const got = buildIfaces(
      [{ ifindex: 7, ifname: 'eth9', operstate: 'UP' }],
      [
        { dst: 'default', dev: 'eth9' }, // no gateway (a point-to-point default)
        { dst: '198.51.100.0/24', gateway: '198.51.100.1', dev: 'eth9' }, // not the default
        { dst: 'default', gateway: '203.0.113.1' }, // no device
      ],
      new Set(),
      NOW,
    );
    // A default route without a gateway still leaves through eth9: it carries the host's default route.
    assert.deepEqual(got, [{ interface: 'eth9', index: 7, operstate: 'up', type: 'ethernet', mac_address: null, ipv4_addresses: [], gateway: null, timestamp: NOW.toISOString(), default_route: true }]);
    assert.deepEqual(buildIfaces([], [], new Set(), NOW), []);
  });

  test('several IPv4 addresses keep their order; the first default route of the link is its gateway', () => {
    const got = buildIfaces(
      [{ ifindex: 2, ifname: 'eth1', operstate: 'UP', addr_info: [
        { family: 'inet', local: '198.51.100.77', prefixlen: 26 },
        { family: 'inet6', local: '2001:db8::1', prefixlen: 64 },
        { family: 'inet', local: '203.0.113.200', prefixlen: 32 },
      ] }],
      [{ dst: 'default', gateway: '198.51.100.65', dev: 'eth1' }, { dst: 'default', gateway: '198.51.100.66', dev: 'eth1' }],
      new Set(),
      NOW,
    );
    assert.deepEqual(got[0]!.ipv4_addresses, [
      { address: '198.51.100.77', prefixlen: 26, subnet: '198.51.100.64/26', network_address: '198.51.100.64' },
      { address: '203.0.113.200', prefixlen: 32, subnet: '203.0.113.200/32', network_address: '203.0.113.200' },
    ]);
    assert.equal(got[0]!.gateway, '198.51.100.65');
  });
});

describe('protocol', () => {
  test('isIgnoredInterface: lo and the CONTRACT §6 prefixes, nothing else', () => {
    for (const n of ['lo', 'docker0', 'br-0123', 'veth1', 'virbr0', 'macvtap3', 'tailscale0', 'wg0', 'zt5', 'cni0', 'flannel.1', 'cilium_net']) assert.ok(isIgnoredInterface(n), n);
    for (const n of ['eth0', 'enp3s0', 'wlan0', 'lo0', 'loop', 'bond0', 'br0', 'eth0.100', 'mv0']) assert.ok(!isIgnoredInterface(n), n);
  });

  const iface: Iface = {
    interface: 'wlan0', index: 3, operstate: 'up', type: 'wifi', mac_address: '02:00:00:00:00:09',
    ipv4_addresses: [{ address: '198.51.100.9', prefixlen: 24, subnet: '198.51.100.0/24', network_address: '198.51.100.0' }],
    gateway: '198.51.100.1', timestamp: NOW.toISOString(),
  };

  test('network_change carries the link kind as interface_type and parses back to the same Iface', () => {
    const ev = changeEvent(iface);
    assert.equal(ev.type, 'network_change');
    assert.equal(ev.interface_type, 'wifi');
    const line = JSON.stringify(ev);
    const parsed = netmonEventSchema.parse(JSON.parse(line));
    assert.equal(parsed.type, 'network_change');
    if (parsed.type !== 'network_change') throw new Error('unreachable');
    assert.deepEqual(ifaceOfChange(parsed), iface);
    const down = changeEvent({ ...iface, status: 'removed', operstate: 'removed', ipv4_addresses: [], gateway: null });
    assert.equal((netmonEventSchema.parse(JSON.parse(JSON.stringify(down))) as { status?: string }).status, 'removed');
  });

  test('network_discovery parses; malformed events are refused', () => {
    assert.ok(netmonEventSchema.safeParse({ type: 'network_discovery', interfaces: [iface], timestamp: NOW.toISOString() }).success);
    for (const bad of [
      {},
      { type: 'network_change' }, // no Iface fields
      { ...changeEvent(iface), interface_type: 'token-ring' },
      { ...changeEvent(iface), index: 'three' },
      { ...changeEvent(iface), status: 'gone' },
      { type: 'network_discovery', interfaces: [{ ...iface, type: 'modem' }], timestamp: NOW.toISOString() },
      { type: 'network_discovery', interfaces: 'all', timestamp: NOW.toISOString() },
      { type: 'hello' },
      null,
      'network_change',
    ]) {
      assert.ok(!netmonEventSchema.safeParse(bad).success, JSON.stringify(bad));
    }
  });

  test('commands: the four known, with their arguments checked', () => {
    assert.ok(commandSchema.safeParse({ command: 'ping', id: 1 }).success);
    assert.ok(commandSchema.safeParse({ command: 'get_status' }).success);
    assert.ok(commandSchema.safeParse({ command: 'set_mac', id: 'x', pid: 42, parent: 'eth0', mac: '02:aa:bb:cc:dd:ee' }).success);
    assert.ok(commandSchema.safeParse({ command: 'get_macs', id: null, pid: 42 }).success);
    for (const bad of [
      { command: 'reboot' },
      { id: 1 },
      { command: 'set_mac', pid: 42, parent: 'eth0', mac: '02:AA:BB:CC:DD:EE' }, // upper case: netmon takes the canonical form
      { command: 'set_mac', pid: 0, parent: 'eth0', mac: '02:aa:bb:cc:dd:ee' },
      { command: 'set_mac', pid: 42, parent: 'eth 0', mac: '02:aa:bb:cc:dd:ee' },
      { command: 'set_mac', pid: 42, parent: 'eth0', mac: '02:aa:bb:cc:dd' },
      { command: 'set_mac', pid: 42, ip: '198.51.100.9', mac: '02:aa:bb:cc:dd:ee' }, // by an address: never (it changes under a DHCP lease)
      { command: 'get_macs', pid: '42' },
      { command: 'get_macs', pid: 1.5 },
    ]) {
      assert.ok(!commandSchema.safeParse(bad).success, JSON.stringify(bad));
    }
  });
});

// A fake `ip` first on PATH: `-j addr show` and `-j -4 route show` print the files addr.json and route.json.
describe('readIfaces through a fake `ip`', () => {
  let dir: string;
  const savedPath = process.env.PATH;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-fake-ip-'));
    fs.writeFileSync(
      path.join(dir, 'ip'),
      `#!/bin/sh
D='${dir}'
case "$*" in
  '-j addr show') exec cat "$D/addr.json" ;;
  '-j -4 route show') exec cat "$D/route.json" ;;
  *) echo "fake ip: unexpected arguments: $*" >&2; exit 2 ;;
esac
`,
      { mode: 0o755 },
    );
    process.env.PATH = `${dir}:${savedPath ?? ''}`;
  });

  after(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('readIfaces parses what `ip -j` prints', async () => {
    fs.writeFileSync(path.join(dir, 'addr.json'), ADDR_JSON);
    fs.writeFileSync(path.join(dir, 'route.json'), ROUTE_JSON);
    const got = await readIfaces();
    assert.deepEqual(got.map((i) => [i.interface, i.gateway, i.ipv4_addresses.map((a) => a.subnet)]), [['eth8', null, []], ['eth7', '198.51.100.1', ['198.51.100.0/24']], ['mv0', null, ['203.0.113.0/28']]]);
    // ORCH_NETMON_WIFI_INTERFACES names Wi-Fi links that sysfs does not mark.
    assert.deepEqual((await readIfaces(['eth8', 'nosuch0'])).map((i) => [i.interface, i.type]), [['eth8', 'wifi'], ['eth7', 'ethernet'], ['mv0', 'ethernet']]);
    // An empty route table prints nothing at all on some iproute2 versions.
    fs.writeFileSync(path.join(dir, 'route.json'), '');
    assert.deepEqual((await readIfaces()).map((i) => i.gateway), [null, null, null]);
  });

  test('readIfaces rejects output that is not JSON rather than reporting nothing', async () => {
    fs.writeFileSync(path.join(dir, 'route.json'), ROUTE_JSON);
    fs.writeFileSync(path.join(dir, 'addr.json'), 'Error: something went wrong\n');
    await assert.rejects(readIfaces(), SyntaxError);
    fs.writeFileSync(path.join(dir, 'addr.json'), ADDR_JSON.slice(0, 500)); // truncated
    await assert.rejects(readIfaces(), SyntaxError);
  });
});

describe('routeGet on recorded `ip -j route get` output', () => {
  test('the interface and gateway; a local route has no gateway; an error names the command', async () => {
    const fake = (out: string) => (cmd: string, args: string[]) => (assert.deepEqual([cmd, ...args.slice(0, 3)], ['ip', '-j', 'route', 'get']), Promise.resolve(out));
    assert.deepEqual(
      await routeGet('203.0.113.5', fake('[{"dst":"203.0.113.5","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]')),
      { interface: 'eth0', gateway: '192.0.2.1' },
    );
    assert.deepEqual(await routeGet('127.0.0.1', fake('[{"type":"local","dst":"127.0.0.1","dev":"lo","prefsrc":"127.0.0.1","flags":[],"uid":0,"cache":["local"]}]')), { interface: 'lo', gateway: null });
    await assert.rejects(routeGet('203.0.113.5', fake('[]')), /no route to 203.0.113.5/);
    await assert.rejects(routeGet('203.0.113.5', () => Promise.reject(new Error('ip -j route get 203.0.113.5: RTNETLINK answers: Network is unreachable'))), /Network is unreachable/);
  });
});

describe('the sidecar without zod', () => {
  test('parseCommand accepts and refuses exactly what commandSchema does', () => {
    const cases: unknown[] = [
      { command: 'ping', id: 1 }, { command: 'get_status' }, { command: 'set_mac', id: 'x', pid: 42, parent: 'eth0', mac: '02:aa:bb:cc:dd:ee' }, { command: 'get_macs', id: null, pid: 42 },
      { command: 'reboot' }, { id: 1 }, { command: 'set_mac', pid: 42, parent: 'eth0', mac: '02:AA:BB:CC:DD:EE' }, { command: 'set_mac', pid: 0, parent: 'eth0', mac: '02:aa:bb:cc:dd:ee' },
      { command: 'set_mac', pid: 42, parent: 'eth 0', mac: '02:aa:bb:cc:dd:ee' }, { command: 'set_mac', pid: 42, parent: 'eth0', mac: '02:aa:bb:cc:dd' }, { command: 'get_macs', pid: '42' },
      { command: 'get_macs', pid: 1.5 }, { command: 'get_macs', pid: -3 }, { command: 'set_mac', pid: 42, parent: 7, mac: '02:aa:bb:cc:dd:ee' }, { command: 'set_mac', pid: 42, ip: '198.51.100.9', mac: '02:aa:bb:cc:dd:ee' }, [1, 2], null, 'ping', 42, { command: 5 },
      { command: 'dhcp_start', id: 3, pid: 42, mac: '02:aa:bb:cc:dd:ee', container_name: 'plc-1', vnic_name: 'eth0' },
      { command: 'dhcp_start', pid: 42, mac: '02:aa:bb:cc:dd:ee', container_name: 'plc-1', vnic_name: 'eth0', request_ip: '203.0.113.41' },
      { command: 'dhcp_start', pid: 42, mac: '02:aa:bb:cc:dd:ee', container_name: 'plc-1', vnic_name: 'eth0', request_ip: 'x' },
      { command: 'dhcp_start', pid: 42, mac: '02:aa:bb:cc:dd:ee', container_name: '../x', vnic_name: 'eth0' },
      { command: 'dhcp_start', pid: 42, mac: '02:aa:bb:cc:dd:ee', container_name: 'plc-1', vnic_name: '' },
      { command: 'dhcp_start', pid: 0, mac: '02:aa:bb:cc:dd:ee', container_name: 'plc-1', vnic_name: 'eth0' },
      { command: 'dhcp_stop', container_name: 'plc-1' }, { command: 'dhcp_stop', container_name: 'plc-1', vnic_name: 'eth0' }, { command: 'dhcp_stop' }, { command: 'dhcp_status', id: 9 },
      { command: 'proxy_arp_setup', id: 4, container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24, gateway: '192.0.2.1' },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24, gateway: null },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24 },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 33, gateway: null },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'a very long vnic name', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24, gateway: null },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan 0', ip: '192.0.2.80', prefix: 24, gateway: null },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', ip: 'x', prefix: 24, gateway: null },
      { command: 'wifi_dhcp_start', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0' },
      { command: 'wifi_dhcp_start', container_name: 'plc-1', vnic_name: 'eth1', pid: 42, parent: 'wlan0', request_ip: '192.0.2.44' },
      { command: 'wifi_dhcp_start', container_name: 'plc-1', vnic_name: 'eth1', pid: -1, parent: 'wlan0' },
      { command: 'proxy_arp_teardown', container_name: 'plc-1' }, { command: 'proxy_arp_teardown', container_name: 'plc-1', vnic_name: 'eth1' }, { command: 'proxy_arp_teardown' },
      { command: 'proxy_arp_status', id: 'p' }, { command: 'proxy_arp_cleanup' },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: '', pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24, gateway: null },
      { command: 'proxy_arp_setup', container_name: 'plc-1', vnic_name: 'x'.repeat(65), pid: 42, parent: 'wlan0', ip: '192.0.2.80', prefix: 24, gateway: null },
      { command: 'nic_move', id: 4, interface: 'enp4s0', pid: 42, container_name: 'plc-1' },
      { command: 'nic_move', interface: 'eth0.100', pid: 42, container_name: 'plc-1', extra: true },
      { command: 'nic_move', interface: 'enp4s0', pid: 42 }, { command: 'nic_move', interface: 'enp4s0', container_name: 'plc-1' },
      { command: 'nic_move', interface: 'a-very-long-name0', pid: 42, container_name: 'plc-1' }, { command: 'nic_move', interface: '', pid: 42, container_name: 'plc-1' },
      { command: 'nic_move', interface: 'en p4', pid: 42, container_name: 'plc-1' }, { command: 'nic_move', interface: '../x', pid: 42, container_name: 'plc-1' },
      { command: 'nic_move', interface: 'enp4s0', pid: 0, container_name: 'plc-1' }, { command: 'nic_move', interface: 'enp4s0', pid: 42, container_name: '-x' },
      { command: 'nic_move', interface: 7, pid: 42, container_name: 'plc-1' },
      { command: 'nic_return', interface: 'enp4s0' }, { command: 'nic_return', id: 'r', interface: 'enp4s0', pid: 42 }, { command: 'nic_return', interface: 'enp4s0', pid: -1 },
      { command: 'nic_return', interface: 'enp4s0', pid: '42' }, { command: 'nic_return', pid: 42 }, { command: 'nic_return', interface: 'x'.repeat(16) },
      { command: 'route_get', address: '203.0.113.7' }, { command: 'route_get', id: 2, address: '127.0.0.1' }, { command: 'route_get', address: 'example.com' },
      { command: 'route_get', address: '203.0.113.7/32' }, { command: 'route_get' }, { command: 'route_get', address: null },
      { command: 'serial_devices' }, { command: 'serial_devices', id: 11, extra: 'ignored' },
      { command: 'engine_ulimits' }, { command: 'engine_ulimits', id: 13, extra: 'ignored' },
      { command: 'serial_node', id: 12, pid: 42, path: '/dev/modbus0', major: 188, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/serial/rtu:1', major: 4095, minor: 1048575, grant: false },
      { command: 'serial_node', pid: 42, path: '/dev/modbus0', major: 188, minor: 0 }, { command: 'serial_node', pid: 42, path: '/dev/modbus0', major: 4096, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/modbus0', major: 188, minor: -1, grant: true }, { command: 'serial_node', pid: 42, path: '/dev/modbus0', major: 1.5, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/../etc/passwd', major: 188, minor: 0, grant: true }, { command: 'serial_node', pid: 42, path: '/etc/x', major: 188, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/./x', major: 188, minor: 0, grant: true }, { command: 'serial_node', pid: 42, path: '/dev//x', major: 188, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/a b', major: 188, minor: 0, grant: true }, { command: 'serial_node', pid: 0, path: '/dev/x', major: 188, minor: 0, grant: true },
      { command: 'serial_node', pid: 42, path: '/dev/x', major: 188, minor: 0, grant: 'yes' },
      { command: 'serial_node_remove', pid: 42, path: '/dev/modbus0' }, { command: 'serial_node_remove', pid: 42, path: '/dev' }, { command: 'serial_node_remove', path: '/dev/x' },
    ];
    for (const c of cases) {
      const mine = parseCommand(c);
      const schema = commandSchema.safeParse(c);
      assert.equal(mine.ok, schema.success, JSON.stringify(c));
      if (mine.ok && schema.success) assert.deepEqual(mine.command, schema.data);
    }
  });

  test('sidecar configuration: the same variables and rules as config.ts; pino-shaped log lines', () => {
    const pick = (c: ReturnType<typeof sidecarConfig>) => ({ socketPath: c.socketPath, debounceMs: c.debounceMs, logLevel: c.logLevel }); // serial and Wi-Fi: netmon-serial.test.ts
    assert.deepEqual(pick(sidecarConfig({ ORCH_DATA_DIR: '/d' })), { socketPath: '/d/netmon.sock', debounceMs: 3000, logLevel: 'info' });
    assert.deepEqual(pick(sidecarConfig({ ORCH_NETMON_SOCKET: '/s.sock', ORCH_NETMON_DEBOUNCE_MS: '250', ORCH_LOG_LEVEL: 'warn' })), { socketPath: '/s.sock', debounceMs: 250, logLevel: 'warn' });
    assert.throws(() => sidecarConfig({ ORCH_NETMON_DEBOUNCE_MS: '0' }), /ORCH_NETMON_DEBOUNCE_MS: must be a positive whole number of milliseconds, got "0"/);
    assert.throws(() => sidecarConfig({ ORCH_LOG_LEVEL: 'loud' }), /ORCH_LOG_LEVEL/);
    const lines: string[] = [];
    const log = lineLogger('warn', (l) => lines.push(l));
    log.info({ a: 1 }, 'hidden');
    log.warn({ err: 'x' }, 'shown');
    assert.equal(lines.length, 1);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual([o.level, o.component, o.err, o.msg, o.pid], [40, 'netmon', 'x', 'shown', process.pid]);
    assert.equal(typeof o.time, 'number');
  });
});
