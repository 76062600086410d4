import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { clampUlimits, hostHardUlimits, WANTED_ULIMITS } from '../../src/reconcilers/ulimits.js';

test('ulimits are clamped to the host hard limits', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max locked memory         8388608              8388608              bytes     ',
    'Max realtime priority     0                    0                              ',
  ].join('\n');
  assert.deepEqual(hostHardUlimits(text), { rtprio: 0, memlock: 8388608 });
  assert.deepEqual(clampUlimits(WANTED_ULIMITS, { rtprio: 0, memlock: 8388608 }), { rtprio: 0, memlock: 8388608 });
  assert.deepEqual(clampUlimits(WANTED_ULIMITS, { rtprio: 99, memlock: -1 }), WANTED_ULIMITS);
});

test('config: defaults, and a bad value names the variable', () => {
  const c = loadConfig({});
  assert.equal(c.dataDir, '/var/orchestrator');
  assert.equal(c.stateFile, '/var/orchestrator/state.json');
  assert.equal(c.resyncIntervalMs, 30000);
  assert.deepEqual(c.cloudTransports, ['websocket']);
  assert.equal(loadConfig({ ORCH_CLOUD_URL: 'off' }).cloudUrl, null);
  assert.throws(() => loadConfig({ ORCH_RESYNC_INTERVAL_MS: 'soon' }), /ORCH_RESYNC_INTERVAL_MS: must be a positive whole number/);
  assert.throws(() => loadConfig({ ORCH_RUNTIME_PORT: '70000' }), /ORCH_RUNTIME_PORT/);
  assert.throws(() => loadConfig({ ORCH_CLOUD_TRANSPORTS: 'carrier-pigeon' }), /ORCH_CLOUD_TRANSPORTS/);
  assert.throws(() => loadConfig({ ORCH_LOG_LEVEL: 'loud' }), /ORCH_LOG_LEVEL/);
});

test('config: runtime memory and pids limits (none by default; docker-style sizes)', () => {
  const c = loadConfig({});
  assert.deepEqual([c.runtimeMemoryLimit, c.runtimePidsLimit], [null, null]);
  const set = loadConfig({ ORCH_RUNTIME_MEMORY_LIMIT: '512m', ORCH_RUNTIME_PIDS_LIMIT: '256' });
  assert.deepEqual([set.runtimeMemoryLimit, set.runtimePidsLimit], [512 * 2 ** 20, 256]);
  assert.equal(loadConfig({ ORCH_RUNTIME_MEMORY_LIMIT: '1G' }).runtimeMemoryLimit, 2 ** 30);
  assert.equal(loadConfig({ ORCH_RUNTIME_MEMORY_LIMIT: '67108864' }).runtimeMemoryLimit, 64 * 2 ** 20);
  assert.throws(() => loadConfig({ ORCH_RUNTIME_MEMORY_LIMIT: '4m' }), /ORCH_RUNTIME_MEMORY_LIMIT: expected bytes with an optional k, m or g suffix, at least 6m, got "4m"/);
  assert.throws(() => loadConfig({ ORCH_RUNTIME_MEMORY_LIMIT: 'lots' }), /ORCH_RUNTIME_MEMORY_LIMIT: /);
  assert.throws(() => loadConfig({ ORCH_RUNTIME_PIDS_LIMIT: '0' }), /ORCH_RUNTIME_PIDS_LIMIT: must be a positive whole number of processes, got "0"/);
});
