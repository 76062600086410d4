// The test peers' side of data-channel chunking (CONTRACT §9.5): chunk_start / chunk_data / chunk_end put
// back together, checked against the announced count and size, and handed on as one message.
import assert from 'node:assert/strict';

type Msg = Record<string, unknown>;

/** Returns a handler for raw channel messages; whole messages (reassembled or not) go to `deliver`. */
export function chunkReassembler(deliver: (m: Msg) => void): (m: Msg) => void {
  const transfers = new Map<string, { total: number; size: number; parts: string[] }>();
  const take = (m: Msg): void => {
    const id = m.transfer_id as string;
    if (m.type === 'chunk_start') transfers.set(id, { total: m.total_chunks as number, size: m.total_size as number, parts: [] });
    else if (m.type === 'chunk_data') transfers.get(id)!.parts[m.sequence as number] = m.data as string;
    else if (m.type === 'chunk_end') {
      const t = transfers.get(id)!;
      transfers.delete(id);
      const text = t.parts.join('');
      assert.equal(t.parts.filter((p) => p !== undefined).length, t.total);
      assert.equal(text.length, t.size);
      take(JSON.parse(text) as Msg);
    } else deliver(m);
  };
  return take;
}
