// NetmonSource against a fake netmon (a unix socket server in a temp dir) and a real Store: several
// events in one socket read must all land, in order, and an unchanged re-discovery must not write.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { changeEvent, type Iface } from '../../src/netmon/protocol.js';
import { NetmonSource } from '../../src/sources/netmon/netmon-source.js';
import { Store, type ChangeKind } from '../../src/store/store.js';
import { waitFor } from '../support/wait.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const iface = (name: string, index: number, operstate: 'up' | 'down', status?: 'down' | 'removed'): Iface => ({
  interface: name,
  index,
  operstate,
  type: 'ethernet',
  mac_address: `02:00:00:00:00:0${index}`,
  ipv4_addresses: operstate === 'up' ? [{ address: `192.0.2.${index}`, prefixlen: 24, subnet: '192.0.2.0/24', network_address: '192.0.2.0' }] : [],
  gateway: null,
  timestamp: new Date().toISOString(),
  ...(status ? { status } : {}),
});
const discovery = (...interfaces: Iface[]) => ({ type: 'network_discovery', interfaces, timestamp: new Date().toISOString() });
const line = (o: unknown) => `${JSON.stringify(o)}\n`;

/** A fake netmon: accepts the agent's connection; `send` writes one chunk to it. */
async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-src-'));
  dirs.push(dir);
  const socketPath = path.join(dir, 'netmon.sock');
  let peer: net.Socket | null = null;
  const server = net.createServer((s) => {
    peer = s;
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const store = await Store.open(path.join(dir, 'state.json'));
  const changes: ChangeKind[] = [];
  store.on('change', (k) => changes.push(k));
  const source = new NetmonSource(socketPath, store, createLogger('silent'));
  source.start();
  cleanups.push(() => {
    source.stop();
    peer?.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const sock = await waitFor('the agent to connect to the fake netmon', () => peer);
  await waitFor('the agent side to see the connection', () => source.connected);
  /** Resolves once every store update queued so far has run (the store's queue is FIFO). */
  const settled = () => store.update('status', () => undefined);
  const state = (name: string) => store.state.host.interfaces.find((i) => i.interface === name);
  return { store, changes, source, send: (chunk: string) => sock.write(chunk), settled, state, file: path.join(dir, 'state.json') };
}

test('two network_change lines in one read both land (eth0 and eth1 go down together)', async () => {
  const t = await setup();
  t.send(line(discovery(iface('eth0', 1, 'up'), iface('eth1', 2, 'up'))));
  await waitFor('the discovery in the store', () => t.store.state.host.interfaces.length === 2);
  const before = t.source.eventsSeen;

  t.send(line(changeEvent(iface('eth0', 1, 'down', 'down'))) + line(changeEvent(iface('eth1', 2, 'down', 'down'))));
  await waitFor('both lines read', () => t.source.eventsSeen === before + 2);
  await t.settled();

  assert.deepEqual(
    t.store.state.host.interfaces.map((i) => [i.interface, i.operstate]),
    [['eth0', 'down'], ['eth1', 'down']],
  );
  // And on disk, not only in memory.
  const onDisk = JSON.parse(fs.readFileSync(t.file, 'utf8')) as { host: { interfaces: { interface: string; operstate: string }[] } };
  assert.deepEqual(onDisk.host.interfaces.map((i) => [i.interface, i.operstate]), [['eth0', 'down'], ['eth1', 'down']]);
});

test('down then up of one interface in one read ends up, and a removal next to a change keeps both', async () => {
  const t = await setup();
  t.send(line(discovery(iface('eth0', 1, 'up'), iface('eth1', 2, 'up'))));
  await waitFor('the discovery in the store', () => t.store.state.host.interfaces.length === 2);
  const before = t.source.eventsSeen;

  t.send(
    line(changeEvent(iface('eth0', 1, 'down', 'down'))) +
      line(changeEvent(iface('eth0', 1, 'up'))) +
      line(changeEvent(iface('eth1', 2, 'down', 'removed'))) +
      line(changeEvent(iface('eth2', 3, 'up'))),
  );
  await waitFor('all four lines read', () => t.source.eventsSeen === before + 4);
  await t.settled();

  assert.deepEqual(
    t.store.state.host.interfaces.map((i) => [i.interface, i.operstate]),
    [['eth0', 'up'], ['eth2', 'up']],
  );
});

test('a re-discovery of the same facts writes nothing and wakes nobody', async () => {
  const t = await setup();
  const facts = [iface('eth0', 1, 'up'), iface('eth1', 2, 'down')];
  t.send(line(discovery(...facts)));
  await waitFor('the discovery in the store', () => t.store.state.host.interfaces.length === 2);
  await t.settled();
  const writes = t.changes.length;
  const content = fs.readFileSync(t.file, 'utf8');
  const before = t.source.eventsSeen;

  // The same facts again, in a different order and with new timestamps; and a change equal to the fact held.
  t.send(line(discovery(iface('eth1', 2, 'down'), iface('eth0', 1, 'up'))) + line(changeEvent(iface('eth0', 1, 'up'))));
  await waitFor('both lines read', () => t.source.eventsSeen === before + 2);
  await t.settled();

  assert.equal(t.changes.length, writes, 'no change announced');
  assert.equal(fs.readFileSync(t.file, 'utf8'), content, 'state file untouched');
});

test("netmon's version comes with its discovery (none from an older netmon)", async () => {
  const t = await setup();
  assert.equal(t.source.version, null);
  t.send(line({ ...discovery(iface('eth0', 1, 'up')), version: 'v1.2.6' }));
  await waitFor('the version', () => t.source.version === 'v1.2.6');
  t.send(line(discovery(iface('eth0', 1, 'up'))));
  await waitFor('an older netmon: no version', () => t.source.version === null);
});
