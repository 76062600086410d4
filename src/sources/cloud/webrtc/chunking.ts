// Data-channel chunking (CONTRACT §9.5, upstream §13.19): a message whose JSON text has 15,000
// characters or more travels as chunk_start / chunk_data (≤ 14,000 characters each) / chunk_end.
// Both directions: frame() splits what the agent sends, Reassembler joins what a peer sends, within
// HEAD's limits (10,000 chunks, 100 MB, a transfer with no chunk for 60 s is dropped) and the agent's
// byte budget (a transfer reserves twice its total_size at chunk_start: its parts, then the joined text).
// Pure: no I/O.
import type { Reservation } from '../byte-budget.js';

export const CHUNK_THRESHOLD = 15_000;
export const CHUNK_DATA_MAX = 14_000;
export const MAX_CHUNKS = 10_000;
export const MAX_TOTAL_CHARS = 100 * 1024 * 1024;
export const STALE_MS = 60_000;

/**
 * JSON text with every non-ASCII character escaped (`\uXXXX`): still the same JSON value, but its
 * length in characters is the same in every language (a Python peer counts code points, JavaScript
 * UTF-16 units), and no chunk boundary can split a surrogate pair.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The data-channel messages that carry `message`: itself, or the chunks of its JSON text. */
export function frame(message: Record<string, unknown>, transferId: string): string[] {
  const plain = JSON.stringify(message);
  if (plain.length < CHUNK_THRESHOLD) return [plain];
  const text = asciiJson(message);
  const total = Math.ceil(text.length / CHUNK_DATA_MAX);
  const out = [JSON.stringify({ type: 'chunk_start', transfer_id: transferId, total_chunks: total, total_size: text.length })];
  for (let i = 0; i < total; i++) {
    out.push(JSON.stringify({ type: 'chunk_data', transfer_id: transferId, sequence: i, data: text.slice(i * CHUNK_DATA_MAX, (i + 1) * CHUNK_DATA_MAX) }));
  }
  out.push(JSON.stringify({ type: 'chunk_end', transfer_id: transferId }));
  return out;
}

export interface ReassemblyLimits {
  maxChunks: number;
  maxTotalChars: number;
  staleMs: number;
  /** Reserves a transfer's bytes in the agent's budget (refusal set: the transfer is refused). */
  reserve?: (bytes: number) => Reservation;
}

export type Accepted =
  | { kind: 'pending' }
  /** The reassembled message's JSON text (not parsed: the caller decides what it is). */
  | { kind: 'complete'; transferId: string; text: string }
  | { kind: 'error'; transferId: string | null; error: string };

interface Transfer {
  totalChunks: number;
  totalSize: number;
  parts: (string | undefined)[];
  received: number;
  chars: number;
  lastAt: number;
  reservation: Reservation | null;
}

const isChunk = (t: unknown) => t === 'chunk_start' || t === 'chunk_data' || t === 'chunk_end';
export const isChunkMessage = (m: Record<string, unknown>): boolean => isChunk(m.type);

/**
 * Joins the chunked messages of one peer. Memory is bounded: the announced sizes of the transfers in
 * progress never add up to more than `maxTotalChars`, and a transfer idle for `staleMs` is dropped.
 */
export class Reassembler {
  private readonly transfers = new Map<string, Transfer>();
  private readonly limits: ReassemblyLimits;

  /** Forgets a transfer and gives its bytes back. */
  private drop(id: string): Transfer | undefined {
    const t = this.transfers.get(id);
    this.transfers.delete(id);
    t?.reservation?.release();
    return t;
  }

  constructor(limits: Partial<ReassemblyLimits> = {}) {
    this.limits = { maxChunks: MAX_CHUNKS, maxTotalChars: MAX_TOTAL_CHARS, staleMs: STALE_MS, ...limits };
  }

  /** Transfers in progress. */
  get pending(): number {
    return this.transfers.size;
  }

  /** Drops the transfers with no chunk for `staleMs`; returns their ids. */
  sweep(now: number): string[] {
    const dropped: string[] = [];
    for (const [id, t] of this.transfers) {
      if (now - t.lastAt >= this.limits.staleMs) {
        this.drop(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  clear(): void {
    for (const id of [...this.transfers.keys()]) this.drop(id);
  }

  /** Takes one chunk_* message. An error drops the transfer it names. */
  accept(m: Record<string, unknown>, now: number): Accepted {
    this.sweep(now);
    const id = typeof m.transfer_id === 'string' && m.transfer_id.length > 0 && m.transfer_id.length <= 128 ? m.transfer_id : typeof m.transfer_id === 'number' ? String(m.transfer_id) : null;
    if (id === null) return { kind: 'error', transferId: null, error: 'transfer_id: expected a string of 1 to 128 characters' };
    const fail = (error: string): Accepted => {
      this.drop(id);
      return { kind: 'error', transferId: id, error };
    };
    if (m.type === 'chunk_start') {
      const { total_chunks: n, total_size: size } = m;
      if (this.transfers.has(id)) return fail(`transfer ${id.slice(0, 64)}: started twice`);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > this.limits.maxChunks) return fail(`total_chunks: expected an integer 1-${this.limits.maxChunks}`);
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > this.limits.maxTotalChars) return fail(`total_size: expected an integer 1-${this.limits.maxTotalChars}`);
      let inFlight = 0;
      for (const t of this.transfers.values()) inFlight += t.totalSize;
      if (inFlight + size > this.limits.maxTotalChars) return fail(`total_size: transfers in progress would exceed ${this.limits.maxTotalChars} characters`);
      const reservation = this.limits.reserve?.(2 * size) ?? null;
      if (reservation?.refusal) return { kind: 'error', transferId: id, error: reservation.refusal };
      this.transfers.set(id, { totalChunks: n, totalSize: size, parts: new Array<string | undefined>(n), received: 0, chars: 0, lastAt: now, reservation });
      return { kind: 'pending' };
    }
    const t = this.transfers.get(id);
    if (!t) return { kind: 'error', transferId: id, error: `transfer ${id.slice(0, 64)}: unknown or expired` };
    t.lastAt = now;
    if (m.type === 'chunk_data') {
      const { sequence: seq, data } = m;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq >= t.totalChunks) return fail(`sequence: expected an integer 0-${t.totalChunks - 1}`);
      if (typeof data !== 'string') return fail('data: expected a string');
      if (t.parts[seq] !== undefined) return fail(`sequence: ${seq} received twice`);
      if (t.chars + data.length > t.totalSize) return fail(`data: more than total_size (${t.totalSize}) characters`);
      t.parts[seq] = data;
      t.received++;
      t.chars += data.length;
      return { kind: 'pending' };
    }
    // chunk_end
    this.transfers.delete(id);
    try {
      if (t.received !== t.totalChunks) return { kind: 'error', transferId: id, error: `transfer ${id.slice(0, 64)}: ${t.received} of ${t.totalChunks} chunks received` };
      if (t.chars !== t.totalSize) return { kind: 'error', transferId: id, error: `transfer ${id.slice(0, 64)}: ${t.chars} characters received, total_size says ${t.totalSize}` };
      return { kind: 'complete', transferId: id, text: t.parts.join('') };
    } finally {
      t.reservation?.release();
    }
  }
}
