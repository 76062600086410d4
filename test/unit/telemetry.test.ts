import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { reconnectDelayMs } from '../../src/sources/cloud/backoff.js';
import { parsePeriod } from '../../src/telemetry/period.js';
import { RETENTION_S, UsageHistory } from '../../src/telemetry/usage-history.js';

test('periods: seconds, minutes, hours, days, ranges; anything else is an error', () => {
  const now = 1_000_000;
  assert.deepEqual(parsePeriod('30', now), { start: now - 30, end: now });
  assert.deepEqual(parsePeriod('5m', now), { start: now - 300, end: now });
  assert.deepEqual(parsePeriod('1h', now), { start: now - 3600, end: now });
  assert.deepEqual(parsePeriod('2d', now), { start: now - 172800, end: now });
  assert.deepEqual(parsePeriod('100,200', now), { start: 100, end: 200 });
  for (const bad of ['', '-5', 'abc', '0', '0h', '5x', '1,', ',2', '5,1', '1.5h', ' 5']) assert.equal(typeof parsePeriod(bad, now), 'string', bad);
});

test('usage history: queries, 48 h retention, batches survive a restart, a torn last line is skipped', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-usage-'));
  try {
    const file = path.join(dir, 'usage.ndjson');
    const now = Math.floor(Date.now() / 1000);
    const h = new UsageHistory(file);
    h.add('agent', [now - RETENTION_S - 10, 1, 100]);
    h.add('agent', [now - 10, 2, 200]);
    h.add('device/a', [now - 5, 3, 300]);
    await h.flush();
    h.add('agent', [now, 4, 400]);
    h.drop('device/a');
    await h.flush();
    assert.deepEqual(h.query('agent', now - 60, now), [[now - 10, 2, 200], [now, 4, 400]]);
    assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 3, 'one line per batch (and one per drop)');
    fs.appendFileSync(file, '{"samples":{"agent":[[1,2');
    const again = new UsageHistory(file);
    again.load(now);
    assert.deepEqual(again.query('agent', 0, now), [[now - 10, 2, 200], [now, 4, 400]], 'pruned to 48 h, torn line skipped');
    assert.deepEqual(again.keys(), ['agent']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reconnect delays: 5 s until the first connect, then min(1 s·2^n, 30 s) ±30 %', () => {
  assert.equal(reconnectDelayMs(false, 7), 5000);
  assert.equal(reconnectDelayMs(true, 0, () => 0.5), 1000);
  assert.equal(reconnectDelayMs(true, 3, () => 0.5), 8000);
  assert.equal(reconnectDelayMs(true, 10, () => 0.5), 30000);
  assert.equal(reconnectDelayMs(true, 10, () => 0), 21000);
  assert.equal(reconnectDelayMs(true, 10, () => 1), 39000);
  assert.equal(reconnectDelayMs(true, 0, () => 0), 1000, 'never below 1 s');
});
