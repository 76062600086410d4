import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';

test('ORCH_CONTAINER_LOG: bounded json-file by default; a driver with options; "daemon" = the engine\'s default', () => {
  assert.deepEqual(loadConfig({}).containerLog, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  assert.deepEqual(loadConfig({ ORCH_CONTAINER_LOG: 'local:max-size=20m' }).containerLog, { Type: 'local', Config: { 'max-size': '20m' } });
  assert.deepEqual(loadConfig({ ORCH_CONTAINER_LOG: 'journald' }).containerLog, { Type: 'journald', Config: {} });
  assert.equal(loadConfig({ ORCH_CONTAINER_LOG: 'daemon' }).containerLog, null);
});

test('ORCH_CONTAINER_LOG: an unbounded json-file or a malformed value is a config error naming the variable', () => {
  assert.throws(() => loadConfig({ ORCH_CONTAINER_LOG: 'json-file' }), /ORCH_CONTAINER_LOG: json-file needs max-size/);
  assert.throws(() => loadConfig({ ORCH_CONTAINER_LOG: 'json-file:max-size' }), /ORCH_CONTAINER_LOG: expected "daemon" or <driver>/);
  assert.throws(() => loadConfig({ ORCH_CONTAINER_LOG: 'Json File' }), /ORCH_CONTAINER_LOG: expected/);
});
