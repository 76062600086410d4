// The single owner of state.json: one lowdb instance, serialized validated writes, and a change signal.
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import type { Logger } from '../log.js';
import { firstIssueMessage } from '../spec/validation-error.js';
import { DurableJsonFile } from './durable-file-adapter.js';
import { emptyState, stateSchema, type State } from './schema.js';

/** What changed: reconcilers wake on `desired` and `host`, never on their own `status` writes. */
export type ChangeKind = 'desired' | 'status' | 'host';

export class StoreWriteError extends Error {}

export class Store extends EventEmitter<{ change: [ChangeKind] }> {
  /** True when the file was missing at start (first start: legacy import may run). */
  fresh = false;
  /** True when neither the file nor its backup could be used: garbage collection stays off until a desired write. */
  degraded = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: Low<State>) {
    super();
  }

  static async open(file: string, log?: Logger): Promise<Store> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const adapter = new DurableJsonFile(file, stateSchema);
    const db = new Low<State>(adapter, emptyState());
    await db.read();
    const store = new Store(db);
    const r = adapter.lastRead;
    if (r.corruptMovedTo !== undefined) {
      const from = r.source === 'backup' ? `starting from ${adapter.bakPath}` : 'no usable backup: starting empty';
      log?.error({ movedTo: r.corruptMovedTo, reason: r.reason }, `state file ${file} was unusable (${r.reason}); moved aside, ${from}`);
      store.degraded = r.source !== 'backup';
    } else if (r.source === 'backup') {
      log?.warn(`state file ${file} missing; starting from ${adapter.bakPath}`);
    } else if (r.source === 'none') {
      store.fresh = true;
    }
    return store;
  }

  get state(): Readonly<State> {
    return this.db.data;
  }

  /**
   * Applies `mutate` to a copy of the state, validates the result and writes it durably. Only then is the
   * copy made current and the change announced; a failed validation or write changes nothing.
   */
  update<R>(kind: ChangeKind, mutate: (draft: State) => R): Promise<R> {
    const run = async () => {
      const draft = structuredClone(this.db.data);
      const result = mutate(draft);
      // Nothing changed: no write (spares the flash), no wake-up.
      if (JSON.stringify(draft) === JSON.stringify(this.db.data)) return result;
      const parsed = stateSchema.safeParse(draft);
      if (!parsed.success) throw new StoreWriteError(`refused: ${firstIssueMessage(parsed.error)}`);
      try {
        await this.db.adapter.write(parsed.data);
      } catch (e) {
        throw new StoreWriteError(`state file not written: ${(e as Error).message}`);
      }
      this.db.data = parsed.data;
      if (kind === 'desired') this.degraded = false;
      this.emit('change', kind);
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}
