import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';
import pino from 'pino';
import { reconnectDelayMs } from '../../src/sources/cloud/backoff.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { Store } from '../../src/store/store.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { parsePeriod } from '../../src/telemetry/period.js';
import { FULL_RESOLUTION_S, RETENTION_S, THINNED_SPACING_S, UsageHistory, type Sample } from '../../src/telemetry/usage-history.js';

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

const maxGap = (xs: Sample[]) => xs.slice(1).reduce((m, x, i) => Math.max(m, x[0] - xs[i]![0]), 0);

test('usage history in memory: 49 h of 5 s samples; the host keeps every one of 48 h, a runtime every one of the last hour and one per 30 s before', () => {
  const h = new UsageHistory('/nonexistent/usage.ndjson', { thinned: (k) => k.startsWith('device/') });
  const t0 = 1_800_000_000;
  const end = t0 + 49 * 3600;
  // A heartbeat of 5 s with a jitter of up to 1 s either way, like timers on a busy box.
  for (let t = t0, i = 0; t <= end; t += 5, i++) {
    const jitter = [0, 1, -1, 0, 1][i % 5]!;
    h.add('agent', [t + jitter, i % 100, 4000]);
    h.add('device/plc', [t + jitter, i % 7, 30 + (i % 3)]);
  }
  const host = h.query('agent', 0, end + 10);
  const plc = h.query('device/plc', 0, end + 10);
  assert.ok(host[0]![0] >= end - RETENTION_S && host[0]![0] <= end - RETENTION_S + 6, 'the host: 48 h, no more');
  assert.ok(host.length >= RETENTION_S / 5 - 1, `the host keeps every sample: ${host.length}`);
  assert.ok(plc[0]![0] >= end - RETENTION_S && plc[0]![0] <= end - RETENTION_S + THINNED_SPACING_S + 1, 'a runtime: 48 h too');
  const recent = plc.filter((x) => x[0] >= end - FULL_RESOLUTION_S + 2);
  assert.deepEqual(recent.map((x) => x[0]), host.filter((x) => x[0] >= end - FULL_RESOLUTION_S + 2).map((x) => x[0]), 'the last hour at full resolution: the same timestamps as the host');
  assert.ok(recent.length >= FULL_RESOLUTION_S / 5 - 2, `${recent.length}`);
  const older = plc.filter((x) => x[0] < end - FULL_RESOLUTION_S);
  assert.ok(maxGap(plc) <= THINNED_SPACING_S, `no gap over 30 s: ${maxGap(plc)}`);
  assert.ok(older.length <= (RETENTION_S - FULL_RESOLUTION_S) / (THINNED_SPACING_S - 6) && older.length >= (RETENTION_S - FULL_RESOLUTION_S) / THINNED_SPACING_S, `older samples thinned: ${older.length}`);
  assert.ok(plc.every((x, i) => i === 0 || x[0] > plc[i - 1]![0]), 'in order');
});

test('usage history: a gap in the samples themselves (agent down) is kept as it is; values stay exact', () => {
  const h = new UsageHistory('/nonexistent/usage.ndjson', { thinned: () => true });
  const t0 = 1_800_000_000;
  for (const s of [[t0, 1, 10], [t0 + 5, 2, 20], [t0 + 600, 3, 4_000_000], [t0 + 605, 4, 40]] as Sample[]) h.add('device/a', s);
  for (let t = t0 + 610; t <= t0 + 700 + FULL_RESOLUTION_S; t += 5) h.add('device/a', [t, 0, 0]);
  // Past the hour: the first sample, the last one before the gap, the first after it; then one per 30 s.
  assert.deepEqual(h.query('device/a', t0, t0 + 630), [[t0, 1, 10], [t0 + 5, 2, 20], [t0 + 600, 3, 4_000_000], [t0 + 630, 0, 0]]);
});

test('usage history: a clock set back drops the samples it had stamped in the future; retention and thinning go on', () => {
  const h = new UsageHistory('/nonexistent/usage.ndjson', { thinned: () => true });
  const ahead = 1_900_000_000; // the RTC ran ~3 years ahead
  for (let t = ahead; t < ahead + 600; t += 5) h.add('device/a', [t, 1, 1]);
  const now = 1_800_000_000; // NTP sets it right
  for (let t = now; t <= now + 3 * 3600; t += 5) h.add('device/a', [t, 2, 2]);
  const all = h.query('device/a', 0, Number.MAX_SAFE_INTEGER);
  assert.ok(all.every((x) => x[0] <= now + 3 * 3600), 'no sample from the future left');
  assert.ok(all.length < (3 * 3600) / 5, `thinned past the hour: ${all.length}`);
  assert.ok(maxGap(all) <= THINNED_SPACING_S);
});

test('usage history: thinned series survive a restart the same (the log holds every sample; loading thins them again)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-usage-'));
  try {
    const file = path.join(dir, 'usage.ndjson');
    const now = Math.floor(Date.now() / 1000);
    const opts = { thinned: (k: string) => k.startsWith('device/') };
    const h = new UsageHistory(file, opts);
    for (let t = now - 3 * 3600; t <= now; t += 5) h.add('device/a', [t, 1, 2]);
    await h.flush();
    const again = new UsageHistory(file, opts);
    again.load(now);
    assert.deepEqual(again.query('device/a', 0, now), h.query('device/a', 0, now));
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

test('telemetry: a runtime not in the state yet keeps its history (degraded start); only its leaving the state drops it; read-only writes nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-usage-'));
  const ticks = () => new Promise((r) => setTimeout(r, 150));
  try {
    const file = path.join(dir, 'usage-history.ndjson');
    const now = Math.floor(Date.now() / 1000);
    const samples = Array.from({ length: 20 }, (_, i): Sample => [now - 100 + i, 1, 10]);
    const onDisk = `${JSON.stringify({ samples: { 'device/plc-a': samples } })}\n`;
    fs.writeFileSync(file, onDisk);
    // Docker is never asked: no runtime is Running.
    const docker = {} as Docker;
    const log = pino({ level: 'silent' });
    // Refusing mode: host samples for the heartbeat, the file untouched.
    const refusing = new Telemetry(dir, docker, await Store.open(path.join(dir, 'state.json')), 20, log);
    refusing.start({ readOnly: true });
    await ticks();
    await refusing.stop();
    assert.ok(refusing.last !== null, 'the heartbeat still has host figures');
    assert.equal(fs.readFileSync(file, 'utf8'), onDisk, 'nothing written in refusing mode');
    // A degraded start: the state has no runtime until the first pass takes it back from its container.
    const store = await Store.open(path.join(dir, 'state.json'));
    const t = new Telemetry(dir, docker, store, 20, log);
    t.start();
    await ticks();
    await t.flush();
    assert.equal(t.history.query('device/plc-a', 0, now).length, 20, 'kept before the runtime is back in the state');
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /"drop"/);
    await putRuntime(store, { name: 'plc-a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth0', mode: 'dhcp', dns: [] }] });
    await ticks();
    assert.equal(t.history.query('device/plc-a', 0, now).length, 20);
    // Its delete carried out: the record leaves the state, and its history goes with it.
    await store.update('desired', (s) => void delete s.runtimes['plc-a']);
    await ticks();
    await t.stop();
    assert.deepEqual(t.history.query('device/plc-a', 0, now), []);
    assert.match(fs.readFileSync(file, 'utf8'), /\{"drop":"device\/plc-a"\}/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
