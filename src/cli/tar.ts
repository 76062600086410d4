// A minimal ustar writer for the support bundle: regular files only, names up to 100 bytes (the bundle
// chooses its own names), gzip by node's zlib. No runtime dependency for ~40 lines.
import zlib from 'node:zlib';

export interface TarEntry {
  name: string;
  data: Buffer;
  /** Seconds since the epoch. */
  mtime?: number;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(name) > 100) throw new Error(`${name}: tar entry names are limited to 100 bytes`);
  h.write(name, 0, 100, 'utf8');
  const octal = (n: number, len: number, at: number) => h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len, 'ascii');
  octal(0o644, 8, 100); // mode
  octal(0, 8, 108); // uid
  octal(0, 8, 116); // gid
  octal(size, 12, 124);
  octal(mtime, 12, 136);
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // regular file
  h.write('ustar\x0000', 257, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** The tar archive of `entries` (uncompressed). */
export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.name, e.data.length, Math.floor(e.mtime ?? Date.now() / 1000)), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

export const tarGz = (entries: readonly TarEntry[]): Buffer => zlib.gzipSync(tar(entries));
