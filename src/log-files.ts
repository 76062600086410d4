// Log files under $ORCH_DATA_DIR/logs: written in this process (a pino transport would run in a worker
// thread, a second V8 heap), rotated by size (rolling-file.ts), the oldest removed beyond a count, so their total
// is capped at about maxBytes × files. They live on the data dir's disk: a write error (ENOSPC, EROFS,
// EIO) never reaches the process as an unhandled 'error' event. It is reported once per outage, lines
// keep going to stdout, lines that do not fit the bounded buffer meanwhile are dropped (and counted), and
// SonicBoom retries its pending chunk with the next line, so the file resumes by itself once there is
// space again.
import path from 'node:path';
import { pino, type DestinationStream } from 'pino';
import { createLogger, type Logger } from './log.js';
import { openRollingFile, type RollingFile } from './rolling-file.js';

export interface LogFileOptions {
  dir: string;
  /** Files are `<name>.<n>.log`. */
  name: string;
  maxBytes: number;
  /** Files kept, the current one included. */
  files: number;
  /** Bytes buffered while the disk refuses writes; lines beyond are dropped. */
  bufferBytes?: number;
}

/** How a problem of the files (or their recovery) reaches the operator: stdout's log, never the files alone. */
export type LogFileReport = (level: 'error' | 'info', fields: Record<string, unknown>, msg: string) => void;

export const LOG_FILE_DEFAULTS = { maxBytes: 5 * 1024 * 1024, files: 5, bufferBytes: 1024 * 1024 } as const;

/** A pino destination that never throws and never emits: writes go to the rolling file while it can take them. */
export class LogFileSink {
  private failing = false;
  private dropped = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  errors = 0;

  constructor(
    private readonly roll: RollingFile,
    private readonly report: LogFileReport,
  ) {
    roll.on('error', (e: NodeJS.ErrnoException) => this.failed(e));
    roll.on('drop', (data: string) => {
      this.dropped++;
      this.bytesOut += Buffer.byteLength(data);
    });
    roll.on('write', (n: number) => {
      this.bytesOut += n;
      if (!this.failing) return;
      this.failing = false;
      const lost = this.dropped;
      this.dropped = 0;
      this.report('info', { file: this.roll.file, linesLost: lost }, 'log file writable again');
    });
  }

  /** Bytes handed to the file and neither written nor dropped yet. */
  get pendingBytes(): number {
    return this.bytesIn - this.bytesOut;
  }

  get file(): string {
    return this.roll.file;
  }

  write(line: string): void {
    if (this.roll.destroyed) return;
    try {
      this.bytesIn += Buffer.byteLength(line);
      this.roll.write(line);
      // After a write error SonicBoom retries its pending chunk only when a line is accepted; once its
      // buffer is full every line is dropped before that retry. An empty write is the retry.
      if (this.failing) this.roll.write('');
    } catch (e) {
      this.failed(e as NodeJS.ErrnoException);
    }
  }

  private failed(e: NodeJS.ErrnoException): void {
    this.errors++;
    if (this.failing) return;
    this.failing = true;
    this.report('error', { file: this.roll.file, code: e.code ?? null, err: e.message }, 'log file cannot be written: logging on stdout only until it can');
  }

  /** Flushes what is buffered and closes the file (bounded: a full disk must not hold up an exit). */
  close(timeoutMs = 2000): Promise<void> {
    if (this.roll.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.roll.once('close', () => (clearTimeout(timer), resolve()));
      try {
        this.roll.end();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** Opens the files; a data dir where they cannot even be created is reported once and yields null. */
export function openLogFiles(o: LogFileOptions, report: LogFileReport): LogFileSink | null {
  try {
    const roll = openRollingFile({ ...o, bufferBytes: o.bufferBytes ?? LOG_FILE_DEFAULTS.bufferBytes });
    return new LogFileSink(roll, report);
  } catch (e) {
    report('error', { dir: o.dir, err: (e as Error).message }, 'log files cannot be opened: logging on stdout only');
    return null;
  }
}

/** Each line to stdout, then to the files: the files can fail, stdout still gets every line. */
class Tee implements DestinationStream {
  file: LogFileSink | null = null;
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
): { log: Logger; files: LogFileSink | null } {
  const tee = new Tee(stdout);
  const log = createLogger(level, {}, tee);
  const report: LogFileReport = (lvl, fields, msg) => log[lvl](fields, msg);
  tee.file = openLogFiles({ dir: path.join(dataDir, 'logs'), name: 'agent', ...LOG_FILE_DEFAULTS, ...files }, report);
  return { log, files: tee.file };
}
