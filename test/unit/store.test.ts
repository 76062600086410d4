import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { DataDirLock, DataDirLockedError } from '../../src/store/data-dir-lock.js';
import { DesiredStateError, markForDeletion, putRuntime, setLifecycle } from '../../src/store/desired-state.js';
import { stateSchema } from '../../src/store/schema.js';
import { Store, StoreWriteError } from '../../src/store/store.js';
import type { RuntimeSpec } from '../../src/spec/runtime-spec.js';

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

test('data dir lock: held by a live agent, taken over from a dead one', () => {
  const dir = tmp();
  const lock = DataDirLock.acquire(dir);
  fs.writeFileSync(path.join(dir, 'agent.lock'), `1 ${fs.readFileSync('/proc/1/stat', 'utf8').split(') ')[1]!.split(' ')[19]}\n`);
  assert.throws(() => DataDirLock.acquire(dir), DataDirLockedError);
  fs.writeFileSync(path.join(dir, 'agent.lock'), '999999999 123\n');
  DataDirLock.acquire(dir).release();
  lock.release();
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
