// The OpenPLC runtime's debug frames (upstream §15.1): Modbus-like PDUs written as uppercase hex byte
// pairs separated by spaces. The agent builds request frames from a debug message's fields and reads
// the response's header; variable values are relayed as hex, never decoded (their types are not on the
// wire). Header integers are big-endian.

export const FC_INFO = 0x41;
export const FC_SET = 0x42;
export const FC_GET = 0x43;
export const FC_GET_LIST = 0x44;
export const FC_GET_MD5 = 0x45;

export const STATUS_SUCCESS = 0x7e;
const STATUS_NAMES: Record<number, string> = { 0x7e: 'SUCCESS', 0x81: 'OUT_OF_BOUNDS', 0x82: 'OUT_OF_MEMORY' };
export const statusName = (s: number): string => STATUS_NAMES[s] ?? `UNKNOWN_STATUS_0x${s.toString(16).toUpperCase().padStart(2, '0')}`;

/** GET_LIST takes at most this many indexes (upstream). */
export const MAX_LIST_INDEXES = 256;
/** A SET value is at most one STRING (length byte + 126). */
export const MAX_SET_BYTES = 127;

export class FrameError extends Error {}

/** Bytes as uppercase hex pairs separated by spaces. */
export const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');

/** Hex with or without spaces (any case) to bytes; anything else is a FrameError. */
export function fromHex(hex: string): Buffer {
  const compact = hex.replace(/\s+/g, '');
  if (compact.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(compact)) throw new FrameError('not hex byte pairs');
  return Buffer.from(compact, 'hex');
}

const u16 = (n: number, what: string): number[] => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new FrameError(`${what}: expected an integer 0..65535`);
  return [n >> 8, n & 0xff];
};

export const buildInfo = (): string => toHex(Uint8Array.of(FC_INFO));
/** `45 DE AD 00 00`: the endianness probe and padding. */
export const buildGetMd5 = (): string => toHex(Uint8Array.of(FC_GET_MD5, 0xde, 0xad, 0x00, 0x00));
export const buildGet = (start: number, end: number): string => toHex(Uint8Array.from([FC_GET, ...u16(start, 'start'), ...u16(end, 'end')]));

export function buildGetList(indexes: readonly number[]): string {
  if (indexes.length === 0) throw new FrameError('indexes: must not be empty');
  if (indexes.length > MAX_LIST_INDEXES) throw new FrameError(`indexes: at most ${MAX_LIST_INDEXES}`);
  return toHex(Uint8Array.from([FC_GET_LIST, ...u16(indexes.length, 'indexes'), ...indexes.flatMap((i) => u16(i, 'indexes'))]));
}

/** `value` is the variable's bytes as hex (little-endian as the runtime stores it). */
export function buildSet(index: number, force: boolean, value: string): string {
  const v = fromHex(value);
  if (v.length > MAX_SET_BYTES) throw new FrameError(`value: at most ${MAX_SET_BYTES} bytes`);
  return toHex(Uint8Array.from([FC_SET, ...u16(index, 'index'), force ? 1 : 0, ...u16(v.length, 'value'), ...v]));
}

export type Parsed =
  | { fc: typeof FC_INFO; status: number; variableCount: number }
  | { fc: typeof FC_SET; status: number }
  | { fc: typeof FC_GET | typeof FC_GET_LIST; status: number; lastIndex?: number; tick?: number; data?: string }
  | { fc: typeof FC_GET_MD5; status: number; md5?: string };

/**
 * Reads a response frame's header. `expected` is the request's function code: a response for another
 * one, a short or truncated frame, is a FrameError. A status other than SUCCESS comes back as it is
 * (no further fields).
 */
export function parseResponse(hex: string, expected: number): Parsed {
  const b = fromHex(hex);
  if (b.length === 0) throw new FrameError('empty response');
  const fc = b[0]!;
  if (fc !== expected) throw new FrameError(`response for function 0x${fc.toString(16).toUpperCase()}, expected 0x${expected.toString(16).toUpperCase()}`);
  if (fc === FC_INFO) {
    if (b.length < 3) throw new FrameError('INFO response too short');
    return { fc, status: STATUS_SUCCESS, variableCount: b.readUInt16BE(1) };
  }
  if (b.length < 2) throw new FrameError('response without a status');
  const status = b[1]!;
  if (fc === FC_SET || status !== STATUS_SUCCESS) return { fc, status } as Parsed;
  if (fc === FC_GET_MD5) return { fc, status, md5: b.subarray(2).toString('latin1').replace(/\0+$/, '') };
  if (fc === FC_GET || fc === FC_GET_LIST) {
    if (b.length < 10) throw new FrameError('response too short for its header');
    const size = b.readUInt16BE(8);
    if (b.length < 10 + size) throw new FrameError(`response truncated: ${10 + size} bytes announced, ${b.length} received`);
    return { fc, status, lastIndex: b.readUInt16BE(2), tick: b.readUInt32BE(4), data: toHex(b.subarray(10, 10 + size)) };
  }
  throw new FrameError(`unknown function 0x${fc.toString(16).toUpperCase()}`);
}
