// factsSignature (what netmon's re-discovery compares before it runs `ip`) on a fake /sys/class/net and
// /proc/net and a stand-in for os.networkInterfaces(): every fact the facts are made of changes it, what
// the facts ignore (veths, Docker's bridges, lo, their addresses) does not, and missing files are a state.
// The daemon's use of it (no `ip` read while it stays the same) is counted in test/integration/netmon.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { factsSignature } from '../../src/netmon/facts-signature.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-factsig-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const sys = path.join(root, 'sys');
const proc = path.join(root, 'proc');
fs.mkdirSync(proc);
const paths = { sysClassNet: sys, procNet: proc };

function link(name: string, mac: string): void {
  const d = path.join(sys, name);
  fs.mkdirSync(d, { recursive: true });
  for (const [f, v] of [['ifindex', '2'], ['operstate', 'up'], ['flags', '0x1003'], ['address', mac], ['type', '1']]) fs.writeFileSync(path.join(d, f!), `${v}\n`);
}
const set = (file: string, text: string) => fs.writeFileSync(file, text);
const v4 = (address: string, netmask: string): os.NetworkInterfaceInfo => ({ address, netmask, family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: null });
let addrs: NodeJS.Dict<os.NetworkInterfaceInfo[]> = {};
const sig = () => factsSignature(paths, () => addrs);

test('every fact the facts are made of changes the signature; what they ignore does not', () => {
  link('eth0', '02:00:00:00:00:01');
  link('veth1a2b', '02:00:00:00:00:02');
  link('lo', '00:00:00:00:00:00');
  set(path.join(proc, 'route'), 'Iface\tDestination\nEth0\t00000000\n');
  set(path.join(proc, 'fib_trie'), 'Main:\n  |-- 192.0.2.10\n     /32 host LOCAL\n');
  addrs = { eth0: [v4('192.0.2.10', '255.255.255.0')], lo: [v4('127.0.0.1', '255.0.0.0')] };
  let before = sig();
  assert.equal(sig(), before, 'the same host, the same signature');

  const changes: [string, () => void][] = [
    ['a new MAC', () => set(path.join(sys, 'eth0', 'address'), '02:00:00:00:00:09\n')],
    ['flags (admin down)', () => set(path.join(sys, 'eth0', 'flags'), '0x1002\n')],
    ['operstate', () => set(path.join(sys, 'eth0', 'operstate'), 'down\n')],
    ['ifindex (the link made again)', () => set(path.join(sys, 'eth0', 'ifindex'), '7\n')],
    ['link type', () => set(path.join(sys, 'eth0', 'type'), '772\n')],
    ['a Wi-Fi marker', () => fs.mkdirSync(path.join(sys, 'eth0', 'wireless'))],
    ['a new link', () => link('eth1', '02:00:00:00:00:03')],
    ['a route', () => set(path.join(proc, 'route'), 'Iface\tDestination\neth1\t00000000\n')],
    ['a local address', () => set(path.join(proc, 'fib_trie'), 'Main:\n  |-- 192.0.2.11\n     /32 host LOCAL\n')],
    ['a netmask', () => (addrs = { ...addrs, eth0: [v4('192.0.2.10', '255.255.0.0')] })],
    ["an alias's address", () => (addrs = { ...addrs, 'eth0:1': [v4('192.0.2.20', '255.255.255.0')] })],
    ['a file gone', () => fs.rmSync(path.join(sys, 'eth0', 'address'))],
  ];
  for (const [what, change] of changes) {
    change();
    const now = sig();
    assert.notEqual(now, before, what);
    before = now;
  }

  const ignored: [string, () => void][] = [
    ["a veth's MAC", () => set(path.join(sys, 'veth1a2b', 'address'), '02:00:00:00:00:0a\n')],
    ["a Docker bridge's address", () => (addrs = { ...addrs, 'br-0123abcd': [v4('198.18.0.1', '255.255.0.0')] })],
    ["lo's address", () => (addrs = { ...addrs, lo: [v4('127.0.0.2', '255.0.0.0')] })],
    ['an IPv6 address', () => (addrs = { ...addrs, eth0: [...(addrs.eth0 ?? []), { ...v4('fe80::1', 'ffff:ffff:ffff:ffff::'), family: 'IPv6', scopeid: 0 }] })],
  ];
  for (const [what, change] of ignored) {
    change();
    assert.equal(sig(), before, what);
  }
});

test('no sysfs and no /proc/net: a signature all the same; addresses that cannot be read: never the same one', () => {
  const none = path.join(root, 'none');
  assert.equal(factsSignature({ sysClassNet: none, procNet: none }, () => ({})), factsSignature({ sysClassNet: none, procNet: none }, () => ({})));
  const failing = () => {
    throw new Error('getifaddrs: EPERM');
  };
  assert.notEqual(factsSignature(paths, failing), factsSignature(paths, failing));
});
