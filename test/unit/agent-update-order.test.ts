// upgrade_orchestrator's declaration (docs/updates.md): one update or uninstall at a time, either way round;
// an ended one (done or error) lets the next start; an older agent's schema keeps the optional field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { requestAgentUpdate, requestUninstall } from '../../src/store/desired-state.js';
import { Store } from '../../src/store/store.js';

const freshFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'orch-upd-')), 'state.json');
const order = { image: 'reg.example/agent:latest', digest: null, byContainer: 'c1' };

test('an update under way refuses a second one and an uninstall; an ended one lets either start', async () => {
  const store = await Store.open(freshFile());
  assert.equal(await requestAgentUpdate(store, order), true);
  assert.deepEqual({ ...store.state.agent.update, requestedAt: 'x', updatedAt: 'x' }, { requestedAt: 'x', updatedAt: 'x', image: 'reg.example/agent:latest', digest: null, step: 'starting', error: null, byContainer: 'c1' });
  assert.equal(await requestAgentUpdate(store, order), false);
  assert.equal(await requestUninstall(store, 'c1'), false);
  await store.update('status', (s) => void (s.agent.update!.error = 'pull failed'));
  assert.equal(await requestAgentUpdate(store, order), true, 'after an error a new order starts');
  await store.update('status', (s) => void (s.agent.update!.step = 'done'));
  assert.equal(await requestUninstall(store, 'c1'), true, 'after done an uninstall starts');
  assert.equal(await requestAgentUpdate(store, order), false, 'and refuses an update while it runs');
});

test('the update survives a reload (durable) and an unknown key beside it is kept', async () => {
  const file = freshFile();
  const store = await Store.open(file);
  await requestAgentUpdate(store, { ...order, digest: `sha256:${'a'.repeat(64)}` });
  await store.update('status', (s) => void ((s.agent as Record<string, unknown>).newerAgentKey = 1));
  const again = await Store.open(file);
  assert.equal(again.state.agent.update?.digest, `sha256:${'a'.repeat(64)}`);
  assert.equal((again.state.agent as Record<string, unknown>).newerAgentKey, 1);
});

test('netmon_image and netmon_digest: validated with the field named, stored beside the order (optional keys)', async () => {
  const { upgradeOrchestrator } = await import('../../src/sources/cloud/topics/upgrade-orchestrator.js');
  const ctx = {} as Parameters<typeof upgradeOrchestrator.handle>[1]; // refused before any use of the context
  const bad = async (p: Record<string, unknown>) => String((await upgradeOrchestrator.handle([{ correlation_id: 1, ...p }], ctx)).error);
  assert.match(await bad({ netmon_image: 'Not A Ref' }), /netmon_image/);
  assert.match(await bad({ netmon_image: 'n:v2', netmon_digest: 'sha256:xyz' }), /netmon_digest/);
  assert.equal(await bad({ netmon_digest: `sha256:${'c'.repeat(64)}` }), 'netmon_digest: only with netmon_image');
  const file = freshFile();
  const store = await Store.open(file);
  await requestAgentUpdate(store, { ...order, netmonImage: 'reg.example/netmon:v2', netmonDigest: `sha256:${'b'.repeat(64)}` });
  const again = await Store.open(file);
  assert.equal(again.state.agent.update?.netmonImage, 'reg.example/netmon:v2');
  assert.equal(again.state.agent.update?.netmonDigest, `sha256:${'b'.repeat(64)}`);
});
