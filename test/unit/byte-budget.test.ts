// The agent's byte budget (issue #22): limits all of the agent and each session, refusals name the
// variable, and nothing stays reserved after a holder ends — by return, throw or abort.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ByteBudget, budgetFor } from '../../src/sources/cloud/byte-budget.js';
import { Reassembler } from '../../src/sources/cloud/webrtc/chunking.js';

test('the agent-wide limit and the per-session limit; a refusal holds nothing and names the variable', () => {
  const b = new ByteBudget(100, 60);
  const a = b.reserve('cloud', 50);
  assert.equal(a.refusal, null);
  assert.equal(b.used, 50);
  const over = b.reserve('cloud', 20);
  assert.match(over.refusal!, /^\(agent\): 20 bytes more would exceed ORCH_MAX_SESSION_INFLIGHT_BYTES=60 for this session \(50 in flight\)/);
  assert.equal(over.bytes, 0);
  assert.equal(b.used, 50, 'a refusal reserves nothing');
  const c = b.reserve('webrtc:1', 50);
  assert.equal(c.refusal, null);
  const d = b.reserve('webrtc:2', 1);
  assert.match(d.refusal!, /^\(agent\): 1 bytes more would exceed ORCH_MAX_INFLIGHT_BYTES=100 \(100 in flight\)/);
  assert.equal(a.grow(1), false, 'grow past the agent-wide limit');
  assert.equal(a.bytes, 50);
  c.release();
  assert.equal(a.grow(10), true);
  assert.equal(b.usedBy('cloud'), 60);
  a.release();
  a.release();
  assert.equal(b.used, 0, 'a second release gives nothing back twice');
  assert.throws(() => a.grow(1), /grow after release/);
});

test('with(): released when the holder returns, throws or is aborted', async () => {
  const b = new ByteBudget(1000, 1000);
  assert.deepEqual(await b.with('s', 100, (r) => (assert.equal(b.used, 100), r.grow(50), Promise.resolve(b.used))), { value: 150 });
  assert.equal(b.used, 0);
  await assert.rejects(b.with('s', 100, (r) => {
    r.grow(200);
    return Promise.reject(new Error('boom'));
  }), /boom/);
  assert.equal(b.used, 0, 'released after a throw');
  const ac = new AbortController();
  const pending = b.with('s', 300, (r) => new Promise((_, reject) => {
    r.grow(100);
    ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error));
  }));
  assert.equal(b.used, 400);
  ac.abort(new Error('aborted'));
  await assert.rejects(pending, /aborted/);
  assert.equal(b.used, 0, 'released after an abort');
  assert.deepEqual(await b.with('s', 2000, () => Promise.resolve(1)), { refusal: '(agent): 2000 bytes more would exceed ORCH_MAX_INFLIGHT_BYTES=1000 (0 in flight); try again later' });
});

test('one budget per agent configuration; defaults 64 MiB and half of it per session', () => {
  const config = loadConfig({ ORCH_CLOUD_URL: 'off' });
  assert.equal(budgetFor(config), budgetFor(config));
  assert.deepEqual([budgetFor(config).limit, budgetFor(config).sessionLimit], [64 * 2 ** 20, 32 * 2 ** 20]);
  const small = loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_MAX_INFLIGHT_BYTES: String(8 * 2 ** 20) });
  assert.equal(small.maxSessionInflightBytes, 4 * 2 ** 20);
  assert.notEqual(budgetFor(small), budgetFor(config));
  assert.throws(() => loadConfig({ ORCH_MAX_INFLIGHT_BYTES: '1000' }), /ORCH_MAX_INFLIGHT_BYTES: must be a whole number of bytes, at least 1048576, got "1000"/);
  assert.throws(() => loadConfig({ ORCH_MAX_SESSION_INFLIGHT_BYTES: String(65 * 2 ** 20) }), /ORCH_MAX_SESSION_INFLIGHT_BYTES: must be a whole number of bytes from 1048576 to ORCH_MAX_INFLIGHT_BYTES/);
  assert.throws(() => loadConfig({ ORCH_MAX_SESSION_INFLIGHT_BYTES: '2m' }), /ORCH_MAX_SESSION_INFLIGHT_BYTES: /);
});

test('reassembly: a transfer reserves twice its total_size, refused beyond the budget, released however it ends', () => {
  const b = new ByteBudget(1000, 1000);
  const r = new Reassembler({ reserve: (n) => b.reserve('webrtc:x', n) });
  assert.equal(r.accept({ type: 'chunk_start', transfer_id: 'a', total_chunks: 2, total_size: 300 }, 0).kind, 'pending');
  assert.equal(b.used, 600);
  const refused = r.accept({ type: 'chunk_start', transfer_id: 'b', total_chunks: 1, total_size: 201 }, 0);
  assert.deepEqual(refused, { kind: 'error', transferId: 'b', error: '(agent): 402 bytes more would exceed ORCH_MAX_INFLIGHT_BYTES=1000 (600 in flight); try again later' });
  assert.equal(r.pending, 1);
  r.accept({ type: 'chunk_data', transfer_id: 'a', sequence: 0, data: 'x'.repeat(150) }, 1);
  r.accept({ type: 'chunk_data', transfer_id: 'a', sequence: 1, data: 'y'.repeat(150) }, 1);
  assert.equal(r.accept({ type: 'chunk_end', transfer_id: 'a' }, 2).kind, 'complete');
  assert.equal(b.used, 0, 'released when complete');
  r.accept({ type: 'chunk_start', transfer_id: 'c', total_chunks: 2, total_size: 10 }, 0);
  assert.equal(r.accept({ type: 'chunk_data', transfer_id: 'c', sequence: 5, data: 'x' }, 0).kind, 'error');
  assert.equal(b.used, 0, 'released when a chunk is wrong');
  r.accept({ type: 'chunk_start', transfer_id: 'd', total_chunks: 2, total_size: 10 }, 0);
  assert.equal(r.accept({ type: 'chunk_end', transfer_id: 'd' }, 0).kind, 'error');
  assert.equal(b.used, 0, 'released when chunks are missing');
  r.accept({ type: 'chunk_start', transfer_id: 'e', total_chunks: 2, total_size: 10 }, 0);
  r.sweep(60_000);
  assert.equal(b.used, 0, 'released when stale');
  r.accept({ type: 'chunk_start', transfer_id: 'f', total_chunks: 2, total_size: 10 }, 0);
  r.clear();
  assert.equal(b.used, 0, 'released when the session closes');
});
