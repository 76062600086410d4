import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { checkHealth } from '../../src/health.js';

test('healthy while passes complete and the data dir is writable; unhealthy when wedged or unwritable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-health-'));
  try {
    const now = Date.now();
    assert.equal((await checkHealth(now - 1000, 30_000, dir, now)).healthy, true);
    const wedged = await checkHealth(now - 91_000, 30_000, dir, now);
    assert.equal(wedged.healthy, false);
    assert.match(wedged.problems[0]!, /reconciler wedged: no completed pass for 91 s/);
    const gone = await checkHealth(now, 30_000, path.join(dir, 'missing'), now);
    assert.equal(gone.healthy, false);
    assert.match(gone.problems[0]!, /cannot be written/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a newer state file and a stuck step are unhealthy, with the reason', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-health-'));
  try {
    const now = Date.now();
    const refused = await checkHealth(0, 30_000, dir, now, { refusal: 'state.json has schema 2; this agent understands up to 1' });
    assert.equal(refused.healthy, false);
    assert.deepEqual(refused.problems.length, 1, 'no "wedged" noise: nothing runs on purpose');
    assert.match(refused.problems[0]!, /schema 2; this agent understands up to 1/);
    const stuck = await checkHealth(now, 30_000, dir, now, { stuck: ['removeContainer runtime/a in progress for 6 min'] });
    assert.equal(stuck.healthy, false);
    assert.match(stuck.problems[0]!, /^step stuck: removeContainer runtime\/a/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
