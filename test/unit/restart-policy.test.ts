import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashBackoffMs, crashLoopOver, CRASH_RESET_MS, failureBackoffMs } from '../../src/reconcilers/restart-policy.js';

test('crash backoff: 10 s, doubling, capped at 5 min, never giving up', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(crashBackoffMs), [10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  assert.equal(crashBackoffMs(1000), 300_000);
  assert.equal(crashBackoffMs(0), 10_000);
});

test('step backoff: 1 s, doubling, capped at 5 min', () => {
  assert.deepEqual([1, 2, 3, 9, 10].map(failureBackoffMs), [1000, 2000, 4000, 256_000, 300_000]);
});

test('a crash loop is over after 10 min running; not before, and never without a start', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const started = new Date(t0).toISOString();
  assert.equal(crashLoopOver(started, t0 + CRASH_RESET_MS), false);
  assert.equal(crashLoopOver(started, t0 + CRASH_RESET_MS + 1), true);
  assert.equal(crashLoopOver(null, t0 + 10 * CRASH_RESET_MS), false);
});
