// Log files under $ORCH_DATA_DIR/logs: written in this process (a pino transport would run in a worker
// thread, a second V8 heap), rotated by size (rolling-file.ts), the oldest removed beyond a count, so their total
// is capped at about maxBytes × files. They live on the data dir's disk: a write error (ENOSPC, EROFS,
// EIO) never reaches the process as an unhandled 'error' event. It is reported once per outage, lines
// keep going to stdout, lines that do not fit the bounded buffer meanwhile are dropped (and counted), and
// SonicBoom retries its pending chunk with the next line, so the file resumes by itself once there is
// space again. A file that could not even be opened (at start) is opened again later (REOPEN_EVERY_MS).
import path from 'node:path';
import { pino, type DestinationStream } from 'pino';
import { createLogger, type Logger } from './log.js';
import { performance } from 'node:perf_hooks';
import { openRollingFile, type RollingFile, type RollingFileOptions } from './rolling-file.js';

export interface LogFileOptions {
  dir: string;
  /** Files are `<name>.<n>.log`. */
  name: string;
  maxBytes: number;
  /** Files kept, the current one included. */
  files: number;
  /** Bytes buffered while the disk refuses writes; lines beyond are dropped. */
  bufferBytes?: number;
  /** A file that could not be opened is tried again with the first line after this long (REOPEN_EVERY_MS). */
  reopenEveryMs?: number;
}

/** How a problem of the files (or their recovery) reaches the operator: stdout's log, never the files alone. */
export type LogFileReport = (level: 'error' | 'info', fields: Record<string, unknown>, msg: string) => void;

export const LOG_FILE_DEFAULTS = { maxBytes: 5 * 1024 * 1024, files: 5, bufferBytes: 1024 * 1024 } as const;

/**
 * A file that could not be opened (a data dir full or read-only at start, or turning so before the open
 * completed) is opened again with the first line after this long: one failed open never silences the
 * files for good.
 */
export const REOPEN_EVERY_MS = 30_000;

/** A pino destination that never throws and never emits: writes go to the rolling file while it can take them. */
export class LogFileSink {
  /** The open (or opening) file; null while it cannot be opened. */
  private roll: RollingFile | null = null;
  private opened = false;
  private openTriedAt = -Infinity;
  private closed = false;
  private failing = false;
  private dropped = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  errors = 0;

  constructor(
    private readonly o: RollingFileOptions & { reopenEveryMs?: number },
    private readonly report: LogFileReport,
  ) {
    this.open();
  }

  private open(): void {
    this.openTriedAt = performance.now();
    let roll: RollingFile;
    try {
      roll = openRollingFile(this.o);
    } catch (e) {
      this.failed(e as NodeJS.ErrnoException, 'log files cannot be opened: logging on stdout only until they can');
      return;
    }
    this.roll = roll;
    this.opened = false;
    // Events of a file given up on (its open failed) are ignored; its 'error' listener stays, so nothing throws.
    roll.on('ready', () => {
      if (roll !== this.roll) return;
      this.opened = true;
      this.recovered();
    });
    roll.on('error', (e: NodeJS.ErrnoException) => {
      if (roll !== this.roll) return;
      this.failed(e);
      if (this.opened) return;
      // Never opened: SonicBoom does not try again by itself; the next line after REOPEN_EVERY_MS does.
      this.roll = null;
      this.bytesIn = this.bytesOut;
    });
    roll.on('drop', (data: string) => {
      if (roll !== this.roll) return;
      this.dropped++;
      this.bytesOut += Buffer.byteLength(data);
    });
    roll.on('write', (n: number) => {
      if (roll !== this.roll) return;
      this.bytesOut += n;
      this.recovered();
    });
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    const lost = this.dropped;
    this.dropped = 0;
    this.report('info', { file: this.file, linesLost: lost }, 'log file writable again');
  }

  /** Bytes handed to the file and neither written nor dropped yet. */
  get pendingBytes(): number {
    return this.bytesIn - this.bytesOut;
  }

  get file(): string {
    return this.roll?.file ?? path.join(this.o.dir, `${this.o.name}.<n>.log`);
  }

  write(line: string): void {
    if (this.closed) return;
    if (this.roll === null && performance.now() - this.openTriedAt >= (this.o.reopenEveryMs ?? REOPEN_EVERY_MS)) this.open();
    const roll = this.roll;
    if (roll === null) {
      this.dropped++;
      return;
    }
    try {
      this.bytesIn += Buffer.byteLength(line);
      roll.write(line);
      // After a write error SonicBoom retries its pending chunk only when a line is accepted; once its
      // buffer is full every line is dropped before that retry. An empty write is the retry.
      if (this.failing && this.opened) roll.write('');
    } catch (e) {
      this.failed(e as NodeJS.ErrnoException);
    }
  }

  private failed(e: NodeJS.ErrnoException, msg = 'log file cannot be written: logging on stdout only until it can'): void {
    this.errors++;
    if (this.failing) return;
    this.failing = true;
    this.report('error', { file: this.file, code: e.code ?? null, err: e.message }, msg);
  }

  /** Flushes what is buffered and closes the file (bounded: a full disk must not hold up an exit). */
  close(timeoutMs = 2000): Promise<void> {
    this.closed = true;
    const roll = this.roll;
    if (roll === null || roll.destroyed || !this.opened) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      roll.once('close', () => (clearTimeout(timer), resolve()));
      try {
        roll.end();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** Opens the files; where they cannot be opened now, that is reported once and tried again later. */
export function openLogFiles(o: LogFileOptions, report: LogFileReport): LogFileSink {
  return new LogFileSink({ ...o, bufferBytes: o.bufferBytes ?? LOG_FILE_DEFAULTS.bufferBytes }, report);
}

/** Each line to stdout, then to the files: the files can fail, stdout still gets every line. */
class Tee implements DestinationStream {
  file: LogFileSink | null = null; // set right after the logger exists (the sink reports through it)
  constructor(private readonly stdout: DestinationStream) {}
  write(line: string): void {
    this.stdout.write(line);
    this.file?.write(line);
  }
}

/** The agent's logger: pino JSON on stdout, and the same lines in `<dataDir>/logs/agent.<n>.log`. */
export function createAgentLogger(
  level: string,
  dataDir: string,
  files: Partial<LogFileOptions> = {},
  stdout: DestinationStream = pino.destination(1),
): { log: Logger; files: LogFileSink } {
  const tee = new Tee(stdout);
  const log = createLogger(level, {}, tee);
  const report: LogFileReport = (lvl, fields, msg) => log[lvl](fields, msg);
  tee.file = openLogFiles({ dir: path.join(dataDir, 'logs'), name: 'agent', ...LOG_FILE_DEFAULTS, ...files }, report);
  return { log, files: tee.file };
}
