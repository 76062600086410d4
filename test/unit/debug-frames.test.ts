// The runtime debug frames (upstream §15.1): built from a debug message's fields, responses read by header.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameError, buildGet, buildGetList, buildGetMd5, buildInfo, buildSet, fromHex, parseResponse, statusName, toHex } from '../../src/sources/cloud/debug/frames.js';

describe('debug request frames', () => {
  test('INFO and GET_MD5 (endianness probe and padding)', () => {
    assert.equal(buildInfo(), '41');
    assert.equal(buildGetMd5(), '45 DE AD 00 00');
  });

  test('GET_LIST: count then big-endian indexes; 1..256 indexes of 0..65535', () => {
    assert.equal(buildGetList([0, 1, 258]), '44 00 03 00 00 00 01 01 02');
    assert.equal(buildGetList(Array.from({ length: 256 }, (_, i) => i)).split(' ').length, 3 + 512);
    assert.throws(() => buildGetList([]), FrameError);
    assert.throws(() => buildGetList(Array.from({ length: 257 }, () => 0)), /at most 256/);
    assert.throws(() => buildGetList([65536]), FrameError);
    assert.throws(() => buildGetList([-1]), FrameError);
    assert.throws(() => buildGetList([1.5]), FrameError);
  });

  test('SET: index, force/release, length, value bytes as given', () => {
    assert.equal(buildSet(42, true, '01'), '42 00 2A 01 00 01 01');
    assert.equal(buildSet(0x1234, false, 'e8 03 00 00'), '42 12 34 00 00 04 E8 03 00 00');
    assert.equal(buildSet(1, true, 'DEADBEEF'), '42 00 01 01 00 04 DE AD BE EF');
    assert.throws(() => buildSet(1, true, '0'), FrameError);
    assert.throws(() => buildSet(1, true, 'zz'), FrameError);
    assert.throws(() => buildSet(1, true, '00'.repeat(128)), /at most 127/);
  });

  test('GET (range)', () => {
    assert.equal(buildGet(1, 300), '43 00 01 01 2C');
  });

  test('hex: uppercase pairs separated by spaces; input with or without spaces', () => {
    assert.equal(toHex(Uint8Array.of(0, 0xab, 0x7e)), '00 AB 7E');
    assert.deepEqual([...fromHex('00ab 7E')], [0, 0xab, 0x7e]);
    assert.deepEqual([...fromHex('')], []);
    assert.throws(() => fromHex('abc'), FrameError);
  });
});

describe('debug response frames', () => {
  test('INFO: variable count', () => {
    assert.deepEqual(parseResponse('41 01 2C', 0x41), { fc: 0x41, status: 0x7e, variableCount: 300 });
    assert.throws(() => parseResponse('41 01', 0x41), /too short/);
  });

  test('SET: status only', () => {
    assert.deepEqual(parseResponse('42 7E', 0x42), { fc: 0x42, status: 0x7e });
    assert.deepEqual(parseResponse('42 81', 0x42), { fc: 0x42, status: 0x81 });
  });

  test('GET_LIST: last index, tick, data relayed as hex', () => {
    assert.deepEqual(parseResponse('44 7E 00 02 00 00 00 42 00 03 01 02 03', 0x44), { fc: 0x44, status: 0x7e, lastIndex: 2, tick: 66, data: '01 02 03' });
    assert.deepEqual(parseResponse('44 7E 00 00 00 00 00 00 00 00', 0x44), { fc: 0x44, status: 0x7e, lastIndex: 0, tick: 0, data: '' });
    assert.deepEqual(parseResponse('44 81', 0x44), { fc: 0x44, status: 0x81 });
    assert.throws(() => parseResponse('44 7E 00 02 00 00', 0x44), /too short/);
    assert.throws(() => parseResponse('44 7E 00 02 00 00 00 42 00 05 01 02 03', 0x44), /truncated/);
  });

  test('GET_MD5: the MD5 in ASCII', () => {
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
    assert.deepEqual(parseResponse(`45 7E ${toHex(Buffer.from(md5))}`, 0x45), { fc: 0x45, status: 0x7e, md5 });
    assert.deepEqual(parseResponse('45 82', 0x45), { fc: 0x45, status: 0x82 });
  });

  test('a response for another function, empty or not hex, is refused', () => {
    assert.throws(() => parseResponse('45 7E', 0x44), /expected 0x44/);
    assert.throws(() => parseResponse('', 0x41), /empty/);
    assert.throws(() => parseResponse('4', 0x41), FrameError);
  });

  test('status names', () => {
    assert.equal(statusName(0x7e), 'SUCCESS');
    assert.equal(statusName(0x81), 'OUT_OF_BOUNDS');
    assert.equal(statusName(0x82), 'OUT_OF_MEMORY');
    assert.equal(statusName(0x05), 'UNKNOWN_STATUS_0x05');
  });
});
