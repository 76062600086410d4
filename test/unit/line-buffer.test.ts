import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBuffer } from '../../src/line-buffer.js';

test('a chunk boundary inside a multi-byte character keeps the character', () => {
  const bytes = Buffer.from('{"name":"Café-Wärme 🌡"}\n', 'utf8');
  // Every split point, including each one inside "é" (2 bytes), "ä" (2) and the emoji (4).
  for (let cut = 1; cut < bytes.length; cut++) {
    const lines = new LineBuffer();
    const out = [...lines.push(bytes.subarray(0, cut)), ...lines.push(bytes.subarray(cut))];
    assert.deepEqual(out, ['{"name":"Café-Wärme 🌡"}'], `split at byte ${cut}`);
  }
});

test('a character split over three chunks, then lines after it', () => {
  const lines = new LineBuffer();
  const emoji = Buffer.from('🌡', 'utf8');
  assert.deepEqual(lines.push(Buffer.concat([Buffer.from('a'), emoji.subarray(0, 1)])), []);
  assert.deepEqual(lines.push(emoji.subarray(1, 3)), []);
  assert.deepEqual(lines.push(Buffer.concat([emoji.subarray(3), Buffer.from('\nb\nc')])), ['a🌡', 'b']);
  assert.equal(lines.pending, 1);
});

test('clear drops a half character too', () => {
  const lines = new LineBuffer();
  lines.push(Buffer.from('é', 'utf8').subarray(0, 1));
  lines.clear();
  assert.deepEqual(lines.push(Buffer.from('x\n')), ['x']);
});
