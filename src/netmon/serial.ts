// Serial devices for passthrough (CONTRACT §9.4): found by globbing device paths, not through udev.
// These hosts may run no udev daemon, and a node made with mknod (or by a container's devtmpfs view)
// fires no kernel uevent anyway; what every case shares is a directory entry appearing or going, which
// inotify (fs.watch) reports. So: scan at start, rescan ~200 ms after any change in a watched directory
// (the globbed directories and the by-id directory), and rescan every 30 s as a safety net.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { SerialDevice } from './iface.js';

/** A path glob (`*` and `?` in the file name only); `minMinor`: devices with a lower minor are skipped. */
export interface SerialGlob {
  pattern: string;
  minMinor?: number;
}

/** ttyS0..63 are the legacy 8250 ports every PC kernel creates whether or not a UART is there. */
export const DEFAULT_SERIAL_GLOBS: readonly SerialGlob[] = [{ pattern: '/dev/ttyUSB*' }, { pattern: '/dev/ttyACM*' }, { pattern: '/dev/ttyS*', minMinor: 64 }];
export const DEFAULT_BY_ID_DIR = '/dev/serial/by-id';

/** ORCH_NETMON_SERIAL_GLOBS's value: the globs, or why it is refused (no minor filter on any of them). */
export function parseSerialGlobs(value: string): SerialGlob[] | string {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return 'expected a comma-separated list of absolute path globs';
  for (const p of parts) {
    if (!path.isAbsolute(p)) return `"${p.slice(0, 64)}" is not an absolute path`;
    if (/[*?[\]{}]/.test(path.dirname(p))) return `"${p.slice(0, 64)}": wildcards are supported in the file name only`;
    if (/[[\]{}]/.test(path.basename(p))) return `"${p.slice(0, 64)}": only * and ? are supported`;
    if (path.basename(p) === '' || p.endsWith('/')) return `"${p.slice(0, 64)}" names no file`;
  }
  return parts.map((pattern) => ({ pattern: path.normalize(pattern) }));
}

/** A file-name glob as a RegExp: `*` any run of characters, `?` one character, the rest literal. */
export function globToRegExp(name: string): RegExp {
  const body = [...name].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** Major and minor of a Linux dev_t (glibc's gnu_dev_major/minor), exact for the whole 64 bits. */
export function devNumbers(rdev: bigint | number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = ((d & 0xfff00n) >> 8n) | ((d & 0xfffff00000000000n) >> 32n);
  const minor = (d & 0xffn) | ((d & 0xffffff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

/** The by-id links: the real path each points at → the link's own path (first by name when several do). */
export async function byIdLinks(dir: string): Promise<Map<string, string>> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out = new Map<string, string>();
  for (const name of names.sort()) {
    const link = path.join(dir, name);
    const target = await fsp.realpath(link).catch(() => null); // a dangling link points at nothing
    if (target !== null && !out.has(target)) out.set(target, link);
  }
  return out;
}

type UsbFacts = Pick<SerialDevice, 'vendor_id' | 'product_id' | 'serial' | 'manufacturer' | 'product'>;
const NO_USB: UsbFacts = { vendor_id: null, product_id: null, serial: null, manufacturer: null, product: null };

/**
 * USB facts from sysfs, found by device number (`/sys/dev/char/M:m`, so a node of any name works) and
 * walking up to the USB device directory (the one with `idVendor`). All null when the number is not a
 * USB device or no such device exists here (a mknod stand-in).
 */
export async function usbFacts(major: number, minor: number, sysRoot = '/sys'): Promise<UsbFacts> {
  let dir = await fsp.realpath(path.join(sysRoot, 'dev', 'char', `${major}:${minor}`)).catch(() => null);
  const stop = path.join(sysRoot, 'devices');
  for (let up = 0; dir !== null && up < 8 && dir.startsWith(`${stop}/`); up++, dir = path.dirname(dir)) {
    const read = (f: string) => fsp.readFile(path.join(dir!, f), 'utf8').then((s) => s.trim() || null, () => null);
    const vendor = await read('idVendor');
    if (vendor === null) continue;
    const [product_id, serial, manufacturer, product] = await Promise.all([read('idProduct'), read('serial'), read('manufacturer'), read('product')]);
    return { vendor_id: vendor, product_id, serial, manufacturer, product };
  }
  return NO_USB;
}

export interface SerialScanConfig {
  globs: readonly SerialGlob[];
  byIdDir: string;
  sysRoot?: string;
}

/** The character devices the globs match now, by path. */
export async function scanSerial(config: SerialScanConfig): Promise<SerialDevice[]> {
  const found = new Map<string, { minMinor: number }>();
  // Each directory listed once (the default globs are all in /dev, a few hundred entries).
  const byDir = new Map<string, { re: RegExp; minMinor: number }[]>();
  for (const g of config.globs) {
    const dir = path.dirname(g.pattern);
    byDir.set(dir, [...(byDir.get(dir) ?? []), { re: globToRegExp(path.basename(g.pattern)), minMinor: g.minMinor ?? 0 }]);
  }
  for (const [dir, globs] of byDir) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const n of names) {
      for (const g of globs) {
        if (!g.re.test(n)) continue;
        const p = path.join(dir, n);
        // Matched by several globs: kept when any of them keeps it.
        found.set(p, { minMinor: Math.min(found.get(p)?.minMinor ?? Infinity, g.minMinor) });
      }
    }
  }
  const links = await byIdLinks(config.byIdDir);
  const devices: SerialDevice[] = [];
  for (const [p, { minMinor }] of [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const st = await fsp.stat(p, { bigint: true }).catch(() => null); // gone since readdir, or a dangling link
    if (!st?.isCharacterDevice()) continue;
    const { major, minor } = devNumbers(st.rdev);
    if (minor < minMinor) continue;
    const real = await fsp.realpath(p).catch(() => p);
    devices.push({ path: p, by_id: links.get(real) ?? null, major, minor, ...(await usbFacts(major, minor, config.sysRoot)), subsystem: 'tty' });
  }
  return devices;
}

export interface SerialChange {
  action: 'add' | 'remove';
  device: SerialDevice;
}

/**
 * What changed, by path. A path whose device number changed is another device: `remove` of the old,
 * then `add` of the new. Same number with new facts (typically the by-id link made by udev just after
 * the node): one `add` with the new facts, since the device never left (an `add` says "present, with
 * these facts"; the agent keys on path and by_id).
 */
export function diffSerial(before: readonly SerialDevice[], after: readonly SerialDevice[]): SerialChange[] {
  const old = new Map(before.map((d) => [d.path, d]));
  const now = new Map(after.map((d) => [d.path, d]));
  const changes: SerialChange[] = [];
  for (const [p, d] of old) if (!now.has(p)) changes.push({ action: 'remove', device: d });
  for (const [p, d] of now) {
    const o = old.get(p);
    if (!o) changes.push({ action: 'add', device: d });
    else if (o.major !== d.major || o.minor !== d.minor) changes.push({ action: 'remove', device: o }, { action: 'add', device: d });
    else if (JSON.stringify(o) !== JSON.stringify(d)) changes.push({ action: 'add', device: d });
  }
  return changes;
}

interface Watch {
  watcher: fs.FSWatcher;
  /** inode and birth time: a directory made again often gets the same inode back. */
  id: string;
}

/**
 * Keeps the device list current: watches the globbed directories and the by-id directory, rescans
 * `debounceMs` after the first change, and reports what changed. A directory that does not exist (yet)
 * is watched from the first rescan that finds it (rescan() is also called every 30 s by the daemon); one
 * replaced by a new directory of the same name is watched again.
 */
export class SerialWatcher {
  private devices: SerialDevice[] = [];
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SerialChange[]> | null = null;
  private again = false;
  private stopped = false;
  private readonly matchers: { dir: string; re: RegExp }[];
  private readonly warned = new Set<string>();

  constructor(
    private readonly config: SerialScanConfig,
    private readonly onChange: (changes: SerialChange[]) => void,
    private readonly log: { warn(o: object, msg: string): void },
    private readonly debounceMs = 200,
  ) {
    this.matchers = config.globs.map((g) => ({ dir: path.dirname(g.pattern), re: globToRegExp(path.basename(g.pattern)) }));
  }

  get list(): SerialDevice[] {
    return this.devices;
  }

  async start(): Promise<void> {
    this.watchDirs();
    this.devices = await scanSerial(this.config);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watches.values()) w.watcher.close();
    this.watches.clear();
  }

  /** Scans now and reports the changes (also returned); concurrent calls share one scan, then one more. */
  rescan(): Promise<SerialChange[]> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      const all: SerialChange[] = [];
      try {
        do {
          this.again = false;
          this.watchDirs();
          let now: SerialDevice[];
          try {
            now = await scanSerial(this.config);
          } catch (e) {
            this.log.warn({ err: (e as Error).message }, 'cannot scan serial devices');
            break;
          }
          const changes = diffSerial(this.devices, now);
          this.devices = now;
          if (changes.length > 0 && !this.stopped) {
            all.push(...changes);
            this.onChange(changes);
          }
        } while (this.again);
      } finally {
        this.running = null; // in the same tick as the last `again` check: no request falls in between
      }
      return all;
    })();
    return this.running;
  }

  private schedule(dir: string, name: string | null): void {
    // In a globbed directory (e.g. /dev, busy) only names a glob could match count; any by-id change does.
    if (dir !== this.config.byIdDir && name !== null && !this.matchers.some((m) => m.dir === dir && m.re.test(name))) return;
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.rescan();
    }, this.debounceMs);
  }

  private watchDirs(): void {
    if (this.stopped) return;
    for (const dir of new Set([...this.matchers.map((m) => m.dir), this.config.byIdDir])) {
      let id: string | null = null;
      try {
        const st = fs.statSync(dir, { bigint: true });
        id = `${st.ino}/${st.birthtimeNs}`;
      } catch {
        /* absent: watched once it exists */
      }
      const w = this.watches.get(dir);
      if (w && w.id === id) continue;
      if (w) {
        w.watcher.close(); // removed, or replaced by a new directory of the same name
        this.watches.delete(dir);
        this.schedule(dir, null);
      }
      if (id === null) continue;
      try {
        const watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
          // The directory itself deleted or moved: inotify names it by its own basename, and the watch
          // is dead. Drop it so that the rescan watches whatever directory has the name then.
          if (name === path.basename(dir)) {
            watcher.close();
            if (this.watches.get(dir)?.watcher === watcher) this.watches.delete(dir);
            this.schedule(dir, null);
          } else this.schedule(dir, typeof name === 'string' ? name : null);
        });
        watcher.on('error', () => {
          watcher.close();
          if (this.watches.get(dir)?.watcher === watcher) this.watches.delete(dir);
        });
        this.watches.set(dir, { watcher, id });
        this.warned.delete(dir);
      } catch (e) {
        if (this.warned.has(dir)) continue; // once, not every 30 s
        this.warned.add(dir);
        this.log.warn({ dir, err: (e as Error).message }, 'cannot watch a serial device directory (rescanned every 30 s)');
      }
    }
  }
}
