// Serial device nodes inside a runtime, made from outside (CONTRACT §9.4): netmon shares the host's pid
// namespace, so the runtime's root is /proc/<pid>/root, and nothing of the runtime image is needed (no
// shell, no mknod). The runtime itself has no CAP_MKNOD: the nodes netmon makes are the only ones it has.
//
// Never a symlink: the walk below /proc/<pid>/root opens one component at a time relative to the directory
// opened before it (/proc/self/fd/<fd>/<name>, O_NOFOLLOW), so a link the PLC program planted (`/dev/x` →
// `/`, resolved against netmon's root, which is the host's) is refused, also when it is swapped in during
// the walk. `mknod` (coreutils or busybox, netmon's own) gets the last directory as its fd 3.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** `/dev/...` without `.`, `..` or empty components (the agent's container_path rule, CONTRACT §9.4). */
export const DEVICE_PATH = /^\/dev(\/[A-Za-z0-9_.+:@-]+)+$/;
export const isDevicePath = (p: unknown): p is string =>
  typeof p === 'string' && p.length <= 255 && DEVICE_PATH.test(p) && !p.split('/').some((s) => s === '.' || s === '..');

/** Opens the directory of `containerPath` inside the runtime's root (made, 0755, where missing); returns its fd. */
function openParent(pid: number, containerPath: string, create: boolean): { fd: number; name: string } | null {
  const parts = containerPath.split('/').filter((s) => s !== '');
  const name = parts.pop()!;
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/root`, O_RDONLY | O_DIRECTORY);
  } catch {
    throw new Error(`no process ${pid}: the runtime is not running`);
  }
  let at = '';
  try {
    for (const part of parts) {
      at += `/${part}`;
      const p = `/proc/self/fd/${fd}/${part}`;
      let next: number;
      try {
        next = fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && !create) return null;
        if (code !== 'ENOENT') throw new Error(`${at} in the runtime is not a directory (a symlink is never followed)`, { cause: e });
        fs.mkdirSync(p, { mode: 0o755 });
        next = fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      }
      fs.closeSync(fd);
      fd = next;
    }
    return { fd, name };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Whatever is at the name now goes (a node of another number, a file, a symlink: never followed); a directory stays and is an error. */
function clear(fd: number, name: string, containerPath: string): void {
  const p = `/proc/self/fd/${fd}/${name}`;
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (st.isDirectory()) throw new Error(`${containerPath} in the runtime is a directory`);
  fs.unlinkSync(p);
}

/** Makes the character device node `major:minor` (mode 0666, as the Python agent did) at `containerPath` in the runtime of `pid`. */
export async function makeDeviceNode(pid: number, containerPath: string, major: number, minor: number): Promise<void> {
  const { fd, name } = openParent(pid, containerPath, true)!;
  try {
    clear(fd, name, containerPath);
    await mknodAt(fd, name, major, minor);
  } catch (e) {
    throw new Error(`${containerPath} in the runtime: ${(e as Error).message}`, { cause: e });
  } finally {
    fs.closeSync(fd);
  }
}

/** `mknod -m 666 <dir fd>/<name> c M m`, the directory handed to the child as its fd 3. */
function mknodAt(dirFd: number, name: string, major: number, minor: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mknod', ['-m', '666', `/proc/self/fd/3/${name}`, 'c', String(major), String(minor)], { stdio: ['ignore', 'ignore', 'pipe', dirFd], timeout: 5000 });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-500)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err.trim() || `mknod exited with ${code}`))));
  });
}

/** Removes the node at `containerPath` (an unplugged device: the runtime keeps no way to a later device of that number); true if one was there. */
export function removeDeviceNode(pid: number, containerPath: string): boolean {
  const parent = openParent(pid, containerPath, false);
  if (parent === null) return false;
  try {
    const st = fs.lstatSync(`/proc/self/fd/${parent.fd}/${parent.name}`, { throwIfNoEntry: false });
    if (st === undefined || st.isDirectory()) return false;
    fs.unlinkSync(`/proc/self/fd/${parent.fd}/${parent.name}`);
    return true;
  } finally {
    fs.closeSync(parent.fd);
  }
}

/**
 * The directory of a cgroup (a path in the devices hierarchy) as netmon can reach it: through a mount of
 * the hierarchy that shows the cgroup (a process on the host; in its container, the host's hierarchy that
 * install.sh binds at /run/host-cgroup-devices, since netmon's own mount shows only its own cgroup), else
 * through the host's pid 1 (which a container without every capability of pid 1 may not enter: EACCES).
 */
export function devicesCgroupDir(cgroupPath: string, mountinfo = '/proc/self/mountinfo'): string {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of fs.readFileSync(mountinfo, 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    const [fstype, , superOpts] = (right ?? '').split(' ');
    if (fstype !== 'cgroup' || !superOpts?.split(',').includes('devices')) continue;
    const f = left!.split(' ');
    const root = unescape(f[3]!);
    const mountPoint = unescape(f[4]!);
    if (root === '/') return `${mountPoint}${cgroupPath === '/' ? '' : cgroupPath}`;
    if (cgroupPath === root || cgroupPath.startsWith(`${root}/`)) return `${mountPoint}${cgroupPath.slice(root.length)}`;
  }
  return `/proc/1/root/sys/fs/cgroup/devices${cgroupPath === '/' ? '' : cgroupPath}`;
}

/**
 * Lets the runtime of `pid` open `c major:minor` without a restart: on cgroup v1 its devices.allow takes a
 * rule at any time. On cgroup v2 device access is an eBPF program that Docker (runc) owns and loads at
 * create; there is nothing to write, and the agent re-creates the container instead (docs/runtime-containers.md).
 */
export function grantDevice(pid: number, major: number, minor: number): void {
  let cgroups: string;
  try {
    cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    throw new Error(`no process ${pid}: the runtime is not running`);
  }
  const line = cgroups.split('\n').find((l) => l.split(':')[1]?.split(',').includes('devices'));
  if (line === undefined) throw new Error(`the runtime of pid ${pid} has no cgroup v1 devices controller: its device rules are fixed at create`);
  const cgroupPath = line.split(':').slice(2).join(':');
  if (!cgroupPath.startsWith('/') || cgroupPath.split('/').includes('..')) throw new Error(`pid ${pid}: unexpected devices cgroup ${cgroupPath.slice(0, 64)}`);
  fs.writeFileSync(`${devicesCgroupDir(cgroupPath)}/devices.allow`, `c ${major}:${minor} rwm\n`);
}
