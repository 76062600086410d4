// One pino logger for the process: JSON lines on stdout, collected by Docker or journald.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base }, redact: ['cert', 'key'] });
}
