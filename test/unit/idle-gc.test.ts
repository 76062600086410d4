// idle-gc.ts: gc() is reachable without --expose-gc (this test process has no such flag), a collection
// runs only once heapUsed + external grew by the threshold, it frees the garbage, and the flag does not
// leak into other contexts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import vm from 'node:vm';
import { exposeGc, startIdleGc } from '../../src/idle-gc.js';

const held = () => process.memoryUsage().heapUsed + process.memoryUsage().external;

test('gc() is taken from a context of its own; other contexts do not get it', () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(typeof exposeGc(), 'function');
  assert.equal(vm.runInNewContext('typeof gc'), 'undefined');
});

test('collects once the heap grew by the threshold, and only then', () => {
  const idle = startIdleGc({ intervalMs: 3_600_000, growthBytes: 8 << 20 });
  try {
    assert.equal(idle.check(), false, 'nothing grew yet');
    let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    let buffers: Buffer[] | undefined = Array.from({ length: 64 }, () => Buffer.alloc(64 << 10, 1));
    assert.equal(garbage.length + buffers.length, 200_064);
    garbage = undefined;
    buffers = undefined;
    const before = held();
    assert.equal(idle.check(), true, `${(before / 1048576).toFixed(1)} MiB held, over the threshold`);
    assert.equal(idle.collections, 1);
    assert.ok(held() < before - (8 << 20), `freed ${((before - held()) / 1048576).toFixed(1)} MiB`);
    assert.equal(idle.check(), false, 'nothing new since the collection');
    assert.equal(idle.collections, 1);
  } finally {
    idle.stop();
  }
});
