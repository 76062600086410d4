// Writing a file inside a runtime's root (reached through /proc/<pid>/root) without following any link the
// runtime made (issue #22): a PLC program that turns /etc or /etc/resolv.conf into a symlink would otherwise
// have netmon (root, host pid namespace) write a host file. Node has no openat: each component is opened with
// O_NOFOLLOW relative to the directory before it, through /proc/self/fd/<fd> (the directory itself, no walk).
import fs from 'node:fs';

const { O_RDONLY, O_WRONLY, O_CREAT, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = fs.constants;

/** Writes `data` to `root`/`rel` (`rel` like `etc/resolv.conf`); `root` itself is trusted (it may be a magic link). Throws ELOOP/ENOTDIR on a link. */
export function writeFileNoFollow(root: string, rel: string, data: string, mode = 0o644): void {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`${rel}: expected a relative path without ".."`);
  let dir = fs.openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    for (const p of parts.slice(0, -1)) {
      const next = fs.openSync(`/proc/self/fd/${dir}/${p}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      fs.closeSync(dir);
      dir = next;
    }
    // O_NONBLOCK: a FIFO put in the file's place must not hang netmon; anything but a regular file is refused.
    const fd = fs.openSync(`/proc/self/fd/${dir}/${parts.at(-1)!}`, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new Error(`${rel}: not a regular file`);
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(dir);
  }
}
