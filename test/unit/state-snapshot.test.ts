// state.json across the self-update (docs/updates.md): which file the old agent gets back on a rollback,
// and the restore on files (a newer schema is replaced by the snapshot, in state.json and its .bak).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/store.js';
import { removeSnapshot, restoreNeeded, restoreSnapshot, ROLLED_BACK_FILE, SNAPSHOT_FILE, snapshotState, stateOnRollback } from '../../src/update/state-snapshot.js';

test('stateOnRollback: the snapshot back only for a schema the old agent would refuse', () => {
  const own = 1;
  assert.equal(stateOnRollback({ storedSchemaVersion: 2, ownSchemaVersion: own, snapshot: true }), 'restore');
  assert.equal(stateOnRollback({ storedSchemaVersion: 1, ownSchemaVersion: own, snapshot: true }), 'keep', 'the same schema: the trial\'s desired state is kept');
  assert.equal(stateOnRollback({ storedSchemaVersion: 2, ownSchemaVersion: own, snapshot: false }), 'keep', 'nothing to put back');
  assert.equal(stateOnRollback({ storedSchemaVersion: null, ownSchemaVersion: own, snapshot: true }), 'keep', 'unreadable: the store\'s own recovery');
});

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'orch-snap-'));
const write = (d: string, f: string, v: unknown) => fs.writeFileSync(path.join(d, f), JSON.stringify(v));
const read = (d: string, f: string) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')) as Record<string, unknown>;

test('a newer schema after the trial: the snapshot is back as state.json and .bak, the newer file kept aside, the old agent opens it', async () => {
  const d = dir();
  const store = await Store.open(path.join(d, 'state.json'));
  await store.update('desired', (s) => void (s.agent.uninstall = null));
  snapshotState(d, store.state);
  const newer = { ...store.state, schemaVersion: 2, cloudOrder: 'of the trial' };
  write(d, 'state.json', newer);
  write(d, 'state.json.bak', newer);
  assert.equal((await Store.open(path.join(d, 'state.json'))).refusal !== null, true, 'without the restore: refusing mode');
  assert.equal(restoreNeeded(d), true);
  restoreSnapshot(d);
  assert.equal(restoreNeeded(d), false, 'done once');
  const back = await Store.open(path.join(d, 'state.json'));
  assert.equal(back.refusal, null);
  assert.equal(back.state.schemaVersion, 1);
  assert.equal(read(d, 'state.json.bak').schemaVersion, 1);
  assert.equal(read(d, ROLLED_BACK_FILE).cloudOrder, 'of the trial');
  removeSnapshot(d);
  assert.equal(fs.existsSync(path.join(d, SNAPSHOT_FILE)), false);
});

test('a newer .bak under an unusable state.json also counts (the store would open the .bak)', () => {
  const d = dir();
  write(d, SNAPSHOT_FILE, { schemaVersion: 1 });
  fs.writeFileSync(path.join(d, 'state.json'), '{cut');
  write(d, 'state.json.bak', { schemaVersion: 2 });
  assert.equal(restoreNeeded(d), true);
});

test('the same schema: state.json is kept as the trial left it', () => {
  const d = dir();
  write(d, SNAPSHOT_FILE, { schemaVersion: 1, v: 'start' });
  write(d, 'state.json', { schemaVersion: 1, v: 'trial' });
  assert.equal(restoreNeeded(d), false);
});
