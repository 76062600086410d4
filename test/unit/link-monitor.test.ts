// LinkMonitor (netmon's trigger) on a fake /sys/class/net and /proc/net in a temp directory: nothing on
// the first look; a link added, removed, up or down and a route line name their interface; a changed
// address list (fib_trie) is null ("look at all"); what the facts ignore (veths, Docker's bridges, lo)
// is never reported; missing files are differences, not errors. The real files are read by the netmon
// suites (test/integration/netmon.test.ts: real veths and namespaces).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { LinkMonitor } from '../../src/netmon/link-monitor.js';
import { waitFor } from '../support/wait.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-linkmon-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const sys = path.join(root, 'sys');
const proc = path.join(root, 'proc');
fs.mkdirSync(proc);

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
const route = (iface: string, dest: string, gw = '00000000') => `${iface}\t${dest}\t${gw}\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`;
function link(name: string, operstate = 'up'): void {
  fs.mkdirSync(path.join(sys, name), { recursive: true });
  fs.writeFileSync(path.join(sys, name, 'operstate'), `${operstate}\n`);
}
const write = (file: string, text: string) => fs.writeFileSync(path.join(proc, file), text);

test('reports what changed between two looks, by interface where the file says which', () => {
  link('eth0');
  link('wlan0', 'down');
  link('lo');
  link('veth1a2b');
  link('br-0123abcd');
  write('route', HEADER + route('eth0', '00000000', '010200C0') + route('eth0', '000200C0'));
  write('fib_trie', 'Main:\n  +-- 192.0.2.0/24 2 0 2\n     |-- 192.0.2.10\n        /32 host LOCAL\n');
  const seen: (string | null)[] = [];
  const monitor = new LinkMonitor((i) => seen.push(i), 3_600_000, { sysClassNet: sys, procNet: proc });
  monitor.start();
  try {
    assert.deepEqual(seen, [], 'the first look is the baseline');
    monitor.look();
    assert.deepEqual(seen, [], 'nothing changed');

    fs.writeFileSync(path.join(sys, 'wlan0', 'operstate'), 'up\n');
    fs.writeFileSync(path.join(sys, 'eth0', 'operstate'), 'lowerlayerdown\n');
    monitor.look();
    assert.deepEqual(seen.sort(), ['eth0', 'wlan0']);

    seen.length = 0;
    link('eth1');
    fs.rmSync(path.join(sys, 'wlan0'), { recursive: true });
    monitor.look();
    assert.deepEqual(seen.sort(), ['eth1', 'wlan0'], 'added and removed links');

    seen.length = 0;
    write('route', HEADER + route('eth1', '00000000', '010200C0') + route('eth0', '000200C0'));
    monitor.look();
    assert.deepEqual(seen.sort(), ['eth0', 'eth1'], 'the default route moved from eth0 to eth1');

    seen.length = 0;
    write('fib_trie', 'Main:\n  +-- 192.0.2.0/24 2 0 2\n     |-- 192.0.2.11\n        /32 host LOCAL\n');
    monitor.look();
    assert.deepEqual(seen, [null], 'an address changed: look at all');

    seen.length = 0;
    link('veth9z', 'down');
    link('br-fedcba98');
    fs.writeFileSync(path.join(sys, 'veth1a2b', 'operstate'), 'down\n');
    fs.writeFileSync(path.join(sys, 'lo', 'operstate'), 'down\n');
    write('route', HEADER + route('eth1', '00000000', '010200C0') + route('eth0', '000200C0') + route('br-fedcba98', '000012C6') + 'garbage\n\n');
    monitor.look();
    assert.deepEqual(seen, [], "Docker's links and lo are not the facts' business");

    fs.rmSync(path.join(proc, 'fib_trie'));
    fs.rmSync(path.join(proc, 'route'));
    monitor.look();
    assert.deepEqual(seen.sort(), ['eth0', 'eth1', null].sort(), 'files gone: their routes and the addresses changed');
  } finally {
    monitor.stop();
  }
});

test('no sysfs and no /proc/net: looks do not throw and report nothing new', () => {
  const seen: (string | null)[] = [];
  const monitor = new LinkMonitor((i) => seen.push(i), 3_600_000, { sysClassNet: path.join(root, 'none'), procNet: path.join(root, 'none') });
  monitor.look(false);
  monitor.look();
  assert.deepEqual(seen, []);
});

test('start polls on its own', async () => {
  link('eth5', 'down');
  const seen: (string | null)[] = [];
  const monitor = new LinkMonitor((i) => seen.push(i), 20, { sysClassNet: sys, procNet: proc });
  monitor.start();
  try {
    fs.writeFileSync(path.join(sys, 'eth5', 'operstate'), 'up\n');
    await waitFor('the change seen without a call to look()', () => seen.includes('eth5'), 5000, 10);
  } finally {
    monitor.stop();
  }
});
