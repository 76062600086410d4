// The single owner of state.json: one lowdb instance, serialized validated writes, and a change signal.
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import type { Logger } from '../log.js';
import { firstIssueMessage } from '../domain/validation-error.js';
import { DurableJsonFile } from './durable-file-adapter.js';
import { migrate, NewerSchemaError } from './migrations.js';
import { emptyState, stateSchema, type State } from './schema.js';

/** What changed: reconcilers wake on `desired` and `host`, never on their own `status` writes. */
export type ChangeKind = 'desired' | 'status' | 'host';

export class StoreWriteError extends Error {}

export interface UpdateOptions {
  /**
   * Desired state that is an observation, not an order (runtimes recovered from their containers, the
   * legacy import, the end of a foreign uninstall): on a full or read-only data dir it is kept in memory
   * like status and reaches the disk with the next write that succeeds, instead of being refused.
   */
  keepIfUnwritten?: boolean;
}

/** Where the desired state came from at start (get_agent_state `agent.state_source`). */
export type StateSource = 'file' | 'bak' | 'containers';

export class Store extends EventEmitter<{ change: [ChangeKind] }> {
  /** True when the file was missing at start (first start: legacy import may run). */
  fresh = false;
  /**
   * True when neither the file nor its backup could be used: the desired state must be rebuilt from the
   * containers (recover.ts) before anything unknown may be garbage-collected.
   */
  degraded = false;
  source: StateSource = 'file';
  /** Set when state.json is a newer agent's: every write is refused with this text and nothing is done. */
  refusal: string | null = null;
  /** State applied in memory but not yet on disk (full or read-only data dir): status, facts, recoveries. */
  unwritten = false;
  private unwrittenError: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: Low<State>,
    private readonly log?: Logger,
  ) {
    super();
  }

  private wrote(): void {
    if (this.unwritten) this.log?.info('state file written again');
    this.unwritten = false;
    this.unwrittenError = null;
  }

  /** Writes status kept in memory since a failed write (called on every reconcile pass). */
  flush(): Promise<void> {
    const run = async () => {
      if (!this.unwritten || this.refusal !== null) return;
      try {
        await this.db.adapter.write(this.db.data);
        this.wrote();
      } catch {
        /* still full: the next pass tries again */
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** The desired state was rebuilt from the containers: it can be trusted again. */
  markRebuilt(): void {
    this.degraded = false;
    this.source = 'containers';
  }

  static async open(file: string, log?: Logger): Promise<Store> {
    // A dir that cannot be made (read-only parent) reads as missing; its writes fail and are handled as such.
    await fs.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
    const adapter = new DurableJsonFile(file, stateSchema, migrate);
    const db = new Low<State>(adapter, emptyState());
    try {
      await db.read();
    } catch (e) {
      if (!(e instanceof NewerSchemaError)) throw e;
      // A downgrade: keep the file as it is, refuse everything, never loop on restarts (CONTRACT §8).
      const store = new Store(db, log);
      store.refusal = e.message;
      log?.error({ fileVersion: e.fileVersion, ownVersion: e.ownVersion }, `${e.message}: refusing every request; nothing is changed in Docker`);
      return store;
    }
    const store = new Store(db, log);
    const r = adapter.lastRead;
    if (r.corruptMovedTo !== undefined) {
      const from = r.source === 'backup' ? `starting from ${adapter.bakPath}` : 'no usable backup: rebuilding from the containers';
      const moved = r.moveFailed === undefined ? 'moved aside' : `not moved aside (${r.moveFailed}; done before the next write)`;
      log?.error({ movedTo: r.corruptMovedTo, reason: r.reason }, `state file ${file} was unusable (${r.reason}); ${moved}, ${from}`);
      store.degraded = r.source !== 'backup';
      store.source = r.source === 'backup' ? 'bak' : 'containers';
    } else if (r.source === 'backup') {
      store.source = 'bak';
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
  update<R>(kind: ChangeKind, mutate: (draft: State) => R, options: UpdateOptions = {}): Promise<R> {
    const run = async () => {
      if (this.refusal !== null) throw new StoreWriteError(this.refusal);
      const draft = structuredClone(this.db.data);
      const result = mutate(draft);
      // Nothing changed: no write (spares the flash), no wake-up.
      if (JSON.stringify(draft) === JSON.stringify(this.db.data)) return result;
      const parsed = stateSchema.safeParse(draft);
      if (!parsed.success) throw new StoreWriteError(`refused: ${firstIssueMessage(parsed.error)}`);
      try {
        await this.db.adapter.write(parsed.data);
        this.wrote();
      } catch (e) {
        const why = `state file not written: ${(e as Error).message}`;
        // Desired state is accepted only once it is durable. Status, facts and recovered runtimes are the
        // agent's own observations: they stay in memory and reach the disk with the next write that succeeds.
        if (kind === 'desired' && options.keepIfUnwritten !== true) throw new StoreWriteError(why);
        if (this.unwrittenError !== why) this.log?.error({ err: why }, 'state kept in memory until the data dir can be written');
        this.unwritten = true;
        this.unwrittenError = why;
      }
      this.db.data = parsed.data;
      this.emit('change', kind);
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}
