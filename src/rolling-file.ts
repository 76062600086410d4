// Log files rotated by size on SonicBoom (the writer pino itself uses): `<name>.<n>.log`, n growing; once
// the current file has reached maxBytes, the next write burst goes to n+1 and the files older than the
// newest `files` are removed. It replaces pino-roll, whose time-based rotation loads all of date-fns
// (299 modules, 2.7 MiB of live heap: issue #12) for a feature the agent does not use. The names are
// pino-roll's, so a box keeps numbering its files across the upgrade.
import fs from 'node:fs';
import path from 'node:path';
import type { SonicBoom } from 'sonic-boom';
import sonicBoom from 'sonic-boom';

// The typings name a class the CommonJS module does not export by that name: the module is the class.
const SonicBoomClass = sonicBoom as unknown as typeof SonicBoom;

export interface RollingFileOptions {
  dir: string;
  name: string;
  maxBytes: number;
  /** Files kept, the current one included. */
  files: number;
  /** SonicBoom's maxLength: bytes buffered while writes fail; lines beyond are dropped ('drop' event). */
  bufferBytes: number;
}

/** SonicBoom's own fields that its typings leave out. */
export type RollingFile = SonicBoom & { readonly file: string; readonly destroyed: boolean };

/** Opens (appending to) the newest `<name>.<n>.log` in dir, or `<name>.1.log`; throws if it cannot. */
export function openRollingFile(o: RollingFileOptions): RollingFile {
  fs.mkdirSync(o.dir, { recursive: true });
  const pattern = new RegExp(`^${o.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.log$`);
  const numbers = (): number[] => {
    try {
      return fs.readdirSync(o.dir).flatMap((f) => {
        const m = pattern.exec(f);
        return m ? [Number(m[1])] : [];
      });
    } catch {
      return []; // an unreadable directory: nothing to prune now, the next rotation tries again
    }
  };
  const fileOf = (k: number) => path.join(o.dir, `${o.name}.${k}.log`);
  let n = Math.max(1, ...numbers());
  let size = 0;
  try {
    size = fs.statSync(fileOf(n)).size;
  } catch {
    // not there yet
  }
  const prune = () => {
    for (const k of numbers()) if (k <= n - o.files) fs.rm(fileOf(k), { force: true }, () => undefined);
  };
  prune();
  // 0600 (issue #22): the lines name runtimes, addresses and errors; files an older agent made 0644 are narrowed.
  for (const k of numbers()) fs.chmod(fileOf(k), 0o600, () => undefined);
  const boom = new SonicBoomClass({ dest: fileOf(n), append: true, maxLength: o.bufferBytes, sync: false, mode: 0o600 }) as RollingFile;
  let due = false;
  boom.on('write', (bytes: number) => {
    size += bytes;
    if (size < o.maxBytes || due) return;
    due = true;
    // After the burst in flight: a reopen in the middle of SonicBoom's write would split it.
    boom.once('drain', () => {
      due = false;
      if (boom.destroyed) return;
      n++;
      size = 0;
      try {
        boom.reopen(fileOf(n));
        prune();
      } catch (e) {
        boom.emit('error', e);
      }
    });
  });
  return boom;
}
