// lowdb adapter that survives power cuts and bad files: temp file + fsync + rename + directory fsync,
// the previous good version kept as `.bak`, an invalid file moved aside (CONTRACT §8).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import type * as z from 'zod';
import { firstIssueMessage } from '../domain/validation-error.js';

export interface ReadOutcome {
  source: 'file' | 'backup' | 'none';
  /** Set when the main file was unreadable or invalid and moved aside (or is to be: see moveFailed). */
  corruptMovedTo?: string;
  reason?: string;
  /** The move aside failed (a read-only or full data dir): it is done before the next write instead. */
  moveFailed?: string;
}

export class DurableJsonFile<T> implements Adapter<T> {
  readonly bakPath: string;
  private readonly tmpPath: string;
  private readonly bakTmpPath: string;
  lastRead: ReadOutcome = { source: 'none' };
  /** A bad main file not yet moved aside: the next write moves it first (it must not become the .bak). */
  private corruptPending: string | null = null;

  constructor(
    readonly filePath: string,
    private readonly schema: z.ZodType<T>,
    /** Applied to the parsed JSON before validation (schema migrations); may throw to refuse the file as it is. */
    private readonly upgrade: (json: unknown) => unknown = (j) => j,
  ) {
    this.bakPath = `${filePath}.bak`;
    this.tmpPath = path.join(path.dirname(filePath), `.${path.basename(filePath)}.tmp`);
    this.bakTmpPath = `${this.bakPath}.tmp`;
  }

  async read(): Promise<T | null> {
    const main = await this.tryLoad(this.filePath);
    if (main.ok) {
      this.lastRead = { source: 'file' };
      return main.value;
    }
    let corruptMovedTo: string | undefined;
    let moveFailed: string | undefined;
    if (main.reason !== 'missing') {
      corruptMovedTo = `${this.filePath}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        await fs.rename(this.filePath, corruptMovedTo);
      } catch (e) {
        // EROFS, EIO: the start goes on all the same (CONTRACT §8); the file stays where it is until then.
        moveFailed = (e as Error).message;
        this.corruptPending = corruptMovedTo;
      }
    }
    const bak = await this.tryLoad(this.bakPath);
    this.lastRead = {
      source: bak.ok ? 'backup' : 'none',
      ...(corruptMovedTo !== undefined ? { corruptMovedTo, reason: main.reason } : {}),
      ...(moveFailed !== undefined ? { moveFailed } : {}),
    };
    return bak.ok ? bak.value : null;
  }

  async write(data: T): Promise<void> {
    const text = `${JSON.stringify(data, null, 2)}\n`;
    const fh = await fs.open(this.tmpPath, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (this.corruptPending !== null) {
      await fs.rename(this.filePath, this.corruptPending).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      this.corruptPending = null;
    }
    // Keep the current good file as .bak (hard link: no copy, atomic replace of the old .bak).
    try {
      await fs.rm(this.bakTmpPath, { force: true });
      await fs.link(this.filePath, this.bakTmpPath);
      await fs.rename(this.bakTmpPath, this.bakPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await fs.rename(this.tmpPath, this.filePath);
    const dir = await fs.open(path.dirname(this.filePath), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private async tryLoad(p: string): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
    let text: string;
    try {
      text = await fs.readFile(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'missing' };
      return { ok: false, reason: `unreadable: ${(e as Error).message}` };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return { ok: false, reason: `not JSON: ${(e as Error).message}` };
    }
    // A refusal here (a newer agent's file) propagates: such a file is neither corrupt nor replaced by .bak.
    const parsed = this.schema.safeParse(this.upgrade(json));
    if (!parsed.success) return { ok: false, reason: `invalid: ${firstIssueMessage(parsed.error)}` };
    return { ok: true, value: parsed.data };
  }
}
