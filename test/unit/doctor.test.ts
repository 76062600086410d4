import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { doctor } from '../../src/cli/doctor.js';
import { loadConfig } from '../../src/config.js';

test('doctor names a newer state file as such (never "corrupt", never "would start from .bak")', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-doctor-'));
  try {
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ schemaVersion: 7, agent: {}, runtimes: {}, host: {} }));
    const checks = await doctor(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }));
    const line = checks.find((c) => c.what === 'state file');
    assert.ok(line, JSON.stringify(checks));
    assert.equal(line.level, 'FAIL');
    assert.match(line.detail, /state\.json has schema 7; this agent understands up to 1: the agent refuses every request/);
    assert.doesNotMatch(line.detail, /bak/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
