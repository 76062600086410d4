import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent.js';
import { loadConfig } from '../../src/config.js';
import { DataDirLock, DataDirLockedError } from '../../src/store/data-dir-lock.js';
import { DesiredStateError, markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { stateSchema } from '../../src/store/schema.js';
import { migrate } from '../../src/store/migrations.js';
import { Store, StoreWriteError } from '../../src/store/store.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-store-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const spec = (name: string, mac?: string): RuntimeSpec => ({
  name,
  runtimeVersion: 'latest',
  vnics: [{ name: 'eth0', parentInterface: 'eth0', mode: 'dhcp', dns: [], ...(mac ? { mac } : {}) }],
});

test('writes are durable JSON, keep a .bak, and bump generation on spec change only', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  const store = await Store.open(file);
  assert.equal(store.fresh, true);
  assert.equal(await putRuntime(store, spec('a')), 'created');
  assert.equal(await putRuntime(store, spec('a')), 'unchanged');
  await assert.rejects(putRuntime(store, spec('a', '02:00:00:00:00:01')), /Container name is already in use/);
  assert.equal(await putRuntime(store, spec('a', '02:00:00:00:00:01'), { allowUpdate: true }), 'updated');
  assert.equal(store.state.runtimes.a!.generation, 2);
  assert.equal(await setLifecycle(store, 'a', 'restart'), true);
  assert.equal(store.state.runtimes.a!.generation, 2);
  assert.equal(store.state.runtimes.a!.restartCount, 1);
  assert.equal(await setLifecycle(store, 'nope', 'stop'), false);
  const onDisk = stateSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  assert.equal(onDisk.runtimes.a!.restartCount, 1);
  assert.ok(fs.existsSync(`${file}.bak`));
  assert.equal(stateSchema.parse(JSON.parse(fs.readFileSync(`${file}.bak`, 'utf8'))).runtimes.a!.restartCount, 0);
  assert.equal(await markForDeletion(store, 'a'), true);
  assert.ok(store.state.runtimes.a!.deletion);
});

test('a MAC used by another runtime is refused and nothing changes', async () => {
  const file = path.join(tmp(), 'state.json');
  const store = await Store.open(file);
  await putRuntime(store, spec('a', '02:00:00:00:00:01'));
  const before = fs.readFileSync(file, 'utf8');
  await assert.rejects(putRuntime(store, spec('b', '02:00:00:00:00:01')), (e: Error) => e instanceof DesiredStateError && /vnic_configs\[0\]\.mac: .*in use by a/.test(e.message));
  assert.equal(fs.readFileSync(file, 'utf8'), before);
  assert.equal(store.state.runtimes.b, undefined);
});

test('an invalid state is refused at the store boundary', async () => {
  const file = path.join(tmp(), 'state.json');
  const store = await Store.open(file);
  await putRuntime(store, spec('a'));
  const before = fs.readFileSync(file, 'utf8');
  await assert.rejects(
    store.update('desired', (s) => {
      s.runtimes.a!.generation = -1;
    }),
    (e: Error) => e instanceof StoreWriteError && /runtimes\.a\.generation/.test(e.message),
  );
  assert.equal(fs.readFileSync(file, 'utf8'), before);
  assert.equal(store.state.runtimes.a!.generation, 1);
});

test('a state file whose runtime has a one-character name still loads (requests need two, CONTRACT §4)', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  const first = await Store.open(file);
  await putRuntime(first, spec('a'));
  // Not from .bak and not moved aside: the file itself is accepted as it stands.
  fs.rmSync(`${file}.bak`, { force: true });
  const again = await Store.open(file);
  assert.equal(again.fresh, false);
  assert.equal(again.degraded, false);
  assert.deepEqual(Object.keys(again.state.runtimes), ['a']);
  assert.equal(again.state.runtimes.a!.spec.name, 'a');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('corrupt')), []);
});

test('a corrupt file is moved aside and the agent starts from .bak', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  const store = await Store.open(file);
  await putRuntime(store, spec('a'));
  await putRuntime(store, spec('b'));
  fs.writeFileSync(file, '{"schemaVersion": 1, "runt');
  const again = await Store.open(file);
  assert.deepEqual(Object.keys(again.state.runtimes), ['a']);
  assert.equal(again.degraded, false);
  assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-')).length, 1);
  // Both unusable: empty, and flagged so that nothing is garbage-collected on its account.
  fs.writeFileSync(file, 'garbage');
  fs.writeFileSync(`${file}.bak`, '{}');
  const third = await Store.open(file);
  assert.deepEqual(third.state.runtimes, {});
  assert.equal(third.degraded, true);
});

test('data dir lock: held by a live agent, taken over from a dead one', async () => {
  const dir = tmp();
  const lock = await DataDirLock.acquire(dir);
  await assert.rejects(DataDirLock.acquire(dir), DataDirLockedError);
  lock.release();
  fs.writeFileSync(path.join(dir, 'agent.lock'), `1 ${fs.readFileSync('/proc/1/stat', 'utf8').split(') ')[1]!.split(' ')[19]}\n`);
  await assert.rejects(DataDirLock.acquire(dir), DataDirLockedError);
  fs.writeFileSync(path.join(dir, 'agent.lock'), '999999999 123\n');
  (await DataDirLock.acquire(dir)).release();
});

test('SIGKILL at random instants never loses an acknowledged write (50 kills)', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  let lastAck = -1;
  for (let round = 0; round < 50; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../support/store-writer-child.ts'), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/ack (\d+)\n/g)) lastAck = Math.max(lastAck, Number(m[1]));
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await sleep(Math.random() * 60);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const state = stateSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
    const count = Object.keys(state.runtimes).length;
    assert.ok(count >= lastAck + 1, `round ${round}: file has ${count} runtimes, last ack was rt-${lastAck}`);
  }
  assert.ok(lastAck > 50, `the child made progress (${lastAck})`);
});

test('a state file from a newer agent is neither corrupt nor rewritten: the store refuses every write', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  const newer = `${JSON.stringify({ schemaVersion: 99, agent: { uninstall: null }, runtimes: {}, host: { interfaces: [], observedAt: null, stale: true }, fromTheFuture: true }, null, 2)}\n`;
  fs.writeFileSync(file, newer);
  const store = await Store.open(file);
  assert.equal(store.refusal, 'state.json has schema 99; this agent understands up to 1');
  assert.equal(store.degraded, false);
  await assert.rejects(store.update('desired', (s) => void (s.agent.uninstall = null)), /schema 99/);
  await assert.rejects(store.update('status', (s) => void (s.host.stale = false)), /schema 99/);
  assert.equal(fs.readFileSync(file, 'utf8'), newer);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('corrupt')), []);
});

test('unknown keys survive a rewrite (a newer agent of the same schema version)', async () => {
  const dir = tmp();
  const file = path.join(dir, 'state.json');
  const s0 = { schemaVersion: 1, agent: { uninstall: null, futureAgentKey: 1 }, runtimes: {}, host: { interfaces: [], observedAt: null, stale: true }, futureTopKey: { a: [1] } };
  fs.writeFileSync(file, JSON.stringify(s0));
  const store = await Store.open(file);
  await store.update('host', (s) => void (s.host.stale = false));
  const written = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(written.futureTopKey, { a: [1] });
  assert.deepEqual((written.agent as Record<string, unknown>).futureAgentKey, 1);
});

test('migrations: applied in order from the file version; a gap or garbage is left for validation to refuse', () => {
  const steps = { 1: (d: Record<string, unknown>) => ({ ...d, added: 'by 1→2' }), 2: (d: Record<string, unknown>) => ({ ...d, renamed: d.added }) };
  assert.deepEqual(migrate({ schemaVersion: 1, x: 1 }, steps, 3), { schemaVersion: 3, x: 1, added: 'by 1→2', renamed: 'by 1→2' });
  assert.deepEqual(migrate({ schemaVersion: 3, x: 1 }, steps, 3), { schemaVersion: 3, x: 1 });
  assert.deepEqual(migrate({ schemaVersion: 1 }, { 2: steps[2] }, 3), { schemaVersion: 1 });
  assert.equal(migrate('garbage', steps, 3), 'garbage');
  assert.throws(() => migrate({ schemaVersion: 4 }, steps, 3), /schema 4; this agent understands up to 3/);
});

test('a status write on a full disk is kept in memory and written once space returns; a desired write is refused', async () => {
  const dir = tmp();
  // A really full filesystem: a 256 KiB tmpfs filled to the last block (root, as the whole suite).
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'orch-full', dir]);
  try {
    const file = path.join(dir, 'state.json');
    const store = await Store.open(file);
    await store.update('host', (s) => void (s.host.observedAt = 'first'));
    const filler = path.join(dir, 'filler');
    assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(512 * 1024)), /ENOSPC/);
    await store.update('host', (s) => void (s.host.observedAt = 'kept in memory'));
    assert.equal(store.state.host.observedAt, 'kept in memory');
    assert.equal(store.unwritten, true);
    await assert.rejects(store.update('desired', (s) => void (s.host.observedAt = 'a desired change')), /state file not written: .*ENOSPC/);
    assert.equal(store.state.host.observedAt, 'kept in memory', 'a refused desired write changes nothing');
    await store.flush();
    assert.equal(store.unwritten, true, 'still full');
    fs.rmSync(filler);
    await store.flush();
    assert.equal(store.unwritten, false);
    assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { host: { observedAt: string } }).host.observedAt, 'kept in memory');
  } finally {
    execFileSync('umount', [dir]);
  }
});

test('data dir lock on a full disk: held in memory (abstract socket), still exclusive, released with the process', async () => {
  const dir = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'orch-full', dir]);
  try {
    assert.throws(() => fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(128 * 1024)), /ENOSPC/);
    const lock = await DataDirLock.acquire(dir);
    assert.equal(lock.diskless, true);
    assert.equal(fs.existsSync(path.join(dir, 'agent.lock')), false, 'no empty lock file left behind');
    await assert.rejects(DataDirLock.acquire(dir), DataDirLockedError);
    // The disk has room again: a second agent must still find the data dir taken (it wrote its pid file).
    fs.rmSync(path.join(dir, 'filler'), { force: true });
    await assert.rejects(DataDirLock.acquire(dir), DataDirLockedError);
    assert.equal(fs.existsSync(path.join(dir, 'agent.lock')), false);
    lock.release();
    (await DataDirLock.acquire(dir)).release();
  } finally {
    execFileSync('umount', [dir]);
  }
});

test('a read-only data dir with an unusable state.json: the store opens (degraded), and the bad file is moved aside before the first write', async () => {
  const dir = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'orch-ro', dir]);
  try {
    const file = path.join(dir, 'state.json');
    fs.writeFileSync(file, '{"torn');
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const store = await Store.open(file);
    assert.equal(store.degraded, true);
    assert.equal(store.source, 'containers');
    // Recovered runtimes are observations: kept in memory; an order is still refused.
    await store.update('desired', (s) => void (s.host.observedAt = 'recovered'), { keepIfUnwritten: true });
    assert.equal(store.state.host.observedAt, 'recovered');
    assert.equal(store.unwritten, true);
    await assert.rejects(store.update('desired', (s) => void (s.host.observedAt = 'an order')), /EROFS/);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"torn', 'nothing changed on disk');
    execFileSync('mount', ['-o', 'remount,rw', dir]);
    await store.flush();
    assert.equal(store.unwritten, false);
    assert.equal(stateSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8'))).host.observedAt, 'recovered');
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(fs.readFileSync(path.join(dir, aside[0]!), 'utf8'), '{"torn', 'the bad file kept for a person');
    assert.equal(fs.existsSync(`${file}.bak`), false, 'the bad file did not become the backup');
  } finally {
    execFileSync('umount', [dir]);
  }
});

test('agent start on a full data dir with a foreign uninstall recorded: the start goes on, the uninstall is ended in memory', async () => {
  const dir = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'orch-full', dir]);
  try {
    const store = await Store.open(path.join(dir, 'state.json'));
    await store.update('desired', (s) => void (s.agent.uninstall = { requestedAt: new Date().toISOString(), step: 'deleting_netmon', error: null, byContainer: 'f'.repeat(64) }));
    assert.throws(() => fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(512 * 1024)), /ENOSPC/);
    // No engine: the uninstall is ended before the agent looks at Docker.
    const agent = new Agent(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent.sock', ORCH_RESYNC_INTERVAL_MS: '3600000' }), pino({ level: 'silent' }));
    await agent.start();
    try {
      assert.equal(agent.store.state.agent.uninstall, null, 'never resumed');
      assert.equal(agent.store.unwritten, true);
    } finally {
      await agent.stop();
    }
  } finally {
    execFileSync('umount', [dir]);
  }
});

test('issue #22: a static address on a Wi-Fi parent that is the gateway, the host, the network, broadcast or outside its subnet is refused when netmon knows the parent', async () => {
  const store = await Store.open(path.join(tmp(), 'state.json'));
  const wifi = (ip: string, gateway?: string): RuntimeSpec => ({ name: 'w', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'wlan0', mode: 'static', ip, ...(gateway ? { gateway } : {}), dns: [] }] });
  // Before netmon's facts: accepted (netmon judges the address when it builds the path).
  assert.equal(await putRuntime(store, wifi('198.51.100.1')), 'created');
  await markForDeletion(store, 'w');
  await store.update('desired', (s) => void delete s.runtimes.w);
  await store.update('host', (s) => {
    s.host.observedAt = new Date().toISOString();
    s.host.interfaces = [{ interface: 'wlan0', index: 3, operstate: 'up', type: 'wifi', mac_address: '02:00:00:00:00:09', ipv4_addresses: [{ address: '198.51.100.20', prefixlen: 24, subnet: '198.51.100.0/24', network_address: '198.51.100.0' }], gateway: '198.51.100.1', timestamp: 'x' }];
  });
  for (const [ip, why] of [['198.51.100.1', /is the gateway/], ['198.51.100.20', /host's own/], ['198.51.100.0', /network address/], ['198.51.100.255', /broadcast/], ['203.0.113.5', /outside/], ['239.1.1.1', /not a unicast/]] as const) {
    await assert.rejects(putRuntime(store, wifi(ip)), (e: Error) => e instanceof DesiredStateError && /^vnic_configs\[0\]\.ip: /.test(e.message) && why.test(e.message), ip);
  }
  await assert.rejects(putRuntime(store, wifi('198.51.100.7', '198.51.100.7')), /is the gateway/);
  assert.equal(await putRuntime(store, wifi('198.51.100.7', '198.51.100.1')), 'created');
});
