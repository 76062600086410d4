// Data-channel chunking (CONTRACT §9.5): splitting, reassembly, HEAD's limits and staleness.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNK_DATA_MAX, CHUNK_THRESHOLD, MAX_CHUNKS, MAX_TOTAL_CHARS, Reassembler, STALE_MS, asciiJson, frame } from '../../src/sources/cloud/webrtc/chunking.js';

const parse = (s: string) => JSON.parse(s) as Record<string, unknown>;

test('a message under 15,000 characters is sent as it is', () => {
  const m = { type: 'command_response', body: 'x'.repeat(CHUNK_THRESHOLD - 100) };
  const out = frame(m, 't1');
  assert.equal(out.length, 1);
  assert.deepEqual(parse(out[0]!), m);
});

test('a message of exactly 15,000 characters is chunked; chunks carry ≤ 14,000 characters and count from 0', () => {
  const base = JSON.stringify({ type: 'x', body: '' }).length;
  const m = { type: 'x', body: 'y'.repeat(CHUNK_THRESHOLD - base) };
  assert.equal(JSON.stringify(m).length, CHUNK_THRESHOLD);
  const out = frame(m, 'tid').map(parse);
  assert.equal(out[0]!.type, 'chunk_start');
  assert.equal(out[0]!.total_chunks, 2);
  assert.equal(out[0]!.total_size, CHUNK_THRESHOLD);
  assert.deepEqual(out.slice(1, -1).map((c) => c.sequence), [0, 1]);
  for (const c of out.slice(1, -1)) assert.ok((c.data as string).length <= CHUNK_DATA_MAX);
  assert.deepEqual(out.at(-1), { type: 'chunk_end', transfer_id: 'tid' });
});

test('200 KB with non-ASCII and astral characters round-trips byte for byte, in any chunk order', () => {
  const body = ('é漢😀' + 'abc'.repeat(50)).repeat(1400);
  const m = { type: 'command_response', correlation_id: 7, body };
  const out = frame(m, 'big');
  const start = parse(out[0]!);
  const text = asciiJson(m);
  assert.equal(start.total_size, text.length, 'total_size is the length of the text that is sent');
  assert.ok(/^[\x20-\x7e]*$/.test(text), 'the chunked text is ASCII');
  const r = new Reassembler();
  assert.equal(r.accept(start, 0).kind, 'pending');
  const data = out.slice(1, -1).map(parse).reverse();
  for (const d of data) assert.equal(r.accept(d, 1).kind, 'pending');
  const done = r.accept(parse(out.at(-1)!), 2);
  assert.equal(done.kind, 'complete');
  assert.deepEqual(JSON.parse((done as { text: string }).text), m);
  assert.equal(r.pending, 0);
});

test('limits: chunk count, total size, overrun, duplicates, missing chunks, unknown transfers', () => {
  const r = new Reassembler();
  const err = (m: Record<string, unknown>) => {
    const a = r.accept(m, 0);
    assert.equal(a.kind, 'error', JSON.stringify(m));
    return (a as { error: string }).error;
  };
  assert.match(err({ type: 'chunk_start', transfer_id: 'a', total_chunks: MAX_CHUNKS + 1, total_size: 10 }), /total_chunks/);
  assert.match(err({ type: 'chunk_start', transfer_id: 'a', total_chunks: 2, total_size: MAX_TOTAL_CHARS + 1 }), /total_size/);
  assert.match(err({ type: 'chunk_start', total_chunks: 2, total_size: 5 }), /transfer_id/);
  assert.match(err({ type: 'chunk_data', transfer_id: 'nope', sequence: 0, data: 'x' }), /unknown or expired/);

  r.accept({ type: 'chunk_start', transfer_id: 'b', total_chunks: 2, total_size: 4 }, 0);
  assert.match(err({ type: 'chunk_data', transfer_id: 'b', sequence: 0, data: 'abcde' }), /more than total_size/);
  assert.equal(r.pending, 0, 'an error drops the transfer');

  r.accept({ type: 'chunk_start', transfer_id: 'c', total_chunks: 2, total_size: 4 }, 0);
  r.accept({ type: 'chunk_data', transfer_id: 'c', sequence: 0, data: 'ab' }, 0);
  assert.match(err({ type: 'chunk_data', transfer_id: 'c', sequence: 0, data: 'ab' }), /twice/);

  r.accept({ type: 'chunk_start', transfer_id: 'd', total_chunks: 2, total_size: 4 }, 0);
  r.accept({ type: 'chunk_data', transfer_id: 'd', sequence: 1, data: 'cd' }, 0);
  assert.match(err({ type: 'chunk_data', transfer_id: 'd', sequence: 2, data: 'x' }), /sequence/);

  r.accept({ type: 'chunk_start', transfer_id: 'e', total_chunks: 2, total_size: 4 }, 0);
  r.accept({ type: 'chunk_data', transfer_id: 'e', sequence: 1, data: 'cd' }, 0);
  assert.match(err({ type: 'chunk_end', transfer_id: 'e' }), /1 of 2 chunks/);

  r.accept({ type: 'chunk_start', transfer_id: 'f', total_chunks: 1, total_size: 4 }, 0);
  r.accept({ type: 'chunk_data', transfer_id: 'f', sequence: 0, data: 'abc' }, 0);
  assert.match(err({ type: 'chunk_end', transfer_id: 'f' }), /3 characters received, total_size says 4/);
  assert.equal(r.pending, 0);
});

test('transfers in progress may not announce more than the size limit together', () => {
  const r = new Reassembler({ maxTotalChars: 100 });
  assert.equal(r.accept({ type: 'chunk_start', transfer_id: 'a', total_chunks: 1, total_size: 60 }, 0).kind, 'pending');
  const second = r.accept({ type: 'chunk_start', transfer_id: 'b', total_chunks: 1, total_size: 60 }, 0);
  assert.equal(second.kind, 'error');
  assert.equal(r.pending, 1);
});

test('a transfer with no chunk for 60 s is dropped; one that keeps receiving is not', () => {
  const r = new Reassembler();
  r.accept({ type: 'chunk_start', transfer_id: 'slow', total_chunks: 3, total_size: 3 }, 0);
  r.accept({ type: 'chunk_start', transfer_id: 'busy', total_chunks: 3, total_size: 3 }, 0);
  r.accept({ type: 'chunk_data', transfer_id: 'busy', sequence: 0, data: 'a' }, STALE_MS - 1);
  assert.deepEqual(r.sweep(STALE_MS), ['slow']);
  r.accept({ type: 'chunk_data', transfer_id: 'busy', sequence: 1, data: 'b' }, 2 * STALE_MS - 2);
  r.accept({ type: 'chunk_data', transfer_id: 'busy', sequence: 2, data: 'c' }, 2 * STALE_MS - 2);
  const done = r.accept({ type: 'chunk_end', transfer_id: 'busy' }, 2 * STALE_MS - 1);
  assert.deepEqual(done, { kind: 'complete', transferId: 'busy', text: 'abc' });
  const late = r.accept({ type: 'chunk_data', transfer_id: 'slow', sequence: 1, data: 'b' }, 2 * STALE_MS);
  assert.equal(late.kind, 'error');
});
