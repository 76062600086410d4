// Host metrics read straight from /proc and statfs: nothing spawned, nothing blocking. (systeminformation's
// currentLoad runs `execSync('cat /proc/stat | grep cpu')` on every call, a shell and two processes
// per heartbeat with the event loop blocked, and its osInfo spawns several more; loading it costs
// ~10 MiB VmRSS. Measured in docs/performance.md.) CPU % is the busy share of all CPUs since the
// previous sample, as systeminformation's currentLoad; memory used = MemTotal − MemAvailable (its
// `active`); disk = the real (non-virtual) filesystems, once a minute.
import { monoNow } from '../clock.js';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';

export interface HostSample {
  cpuPercent: number;
  memUsedBytes: number;
  memTotalBytes: number;
  diskUsedBytes: number;
  diskTotalBytes: number;
}

export interface HostStatic {
  cpus: number;
  os: string;
  kernel: string;
}

const VIRTUAL_FS = new Set(['tmpfs', 'devtmpfs', 'overlay', 'squashfs', 'ramfs', 'proc', 'sysfs', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'pstore', 'autofs', 'devpts', 'mqueue', 'hugetlbfs', 'fusectl', 'nsfs', 'none', 'securityfs', 'configfs', 'bpf', 'binfmt_misc', 'efivarfs', 'rpc_pipefs', 'nfsd', 'fuse.lxcfs', 'selinuxfs']);
const DISK_EVERY_MS = 60_000;

/** Pure: busy and total jiffies from the aggregate `cpu` line of /proc/stat. */
export function cpuTimes(procStat: string): { busy: number; total: number } | null {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  // user nice system idle iowait irq softirq steal (guest, guest_nice are already in user, nice)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Pure: MemTotal and MemTotal − MemAvailable (bytes) from /proc/meminfo. */
export function memInfo(text: string): { total: number; used: number } {
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const total = kb('MemTotal');
  const avail = kb('MemAvailable');
  const t = Number.isFinite(total) ? total : os.totalmem();
  return { total: t, used: Math.max(0, t - (Number.isFinite(avail) ? avail : os.freemem())) };
}

/** Pure: the real filesystems' mount points from /proc/self/mounts, one per device. */
export function realMounts(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [dev, mnt, type] = line.split(' ');
    if (!dev || !mnt || !type || VIRTUAL_FS.has(type) || !dev.startsWith('/') || seen.has(dev)) continue;
    seen.add(dev);
    out.push(mnt.replace(/\\040/g, ' '));
  }
  return out;
}

export class HostMetrics {
  private disk = { used: 0, total: 0, at: -Infinity }; // at: monotonic
  private static_: HostStatic | null = null;
  private prevCpu: { busy: number; total: number } | null = null;

  async staticFacts(): Promise<HostStatic> {
    if (!this.static_) {
      let name = '';
      try {
        const rel = await fsp.readFile('/etc/os-release', 'utf8');
        const v = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(rel)?.[1] ?? '';
        name = `${v('NAME')} ${v('VERSION_ID')}`.trim();
      } catch {
        /* no os-release: fall back to the kernel's name */
      }
      this.static_ = { cpus: os.cpus().length, os: name || `${os.type()} ${os.release()}`, kernel: os.release() };
    }
    return this.static_;
  }

  async sample(): Promise<HostSample> {
    const [stat, mem] = await Promise.all([fsp.readFile('/proc/stat', 'utf8'), fsp.readFile('/proc/meminfo', 'utf8')]);
    const now = cpuTimes(stat);
    let cpuPercent = 0;
    if (now && this.prevCpu && now.total > this.prevCpu.total) cpuPercent = ((now.busy - this.prevCpu.busy) / (now.total - this.prevCpu.total)) * 100;
    else if (now && now.total > 0) cpuPercent = (now.busy / now.total) * 100; // first sample: since boot
    if (now) this.prevCpu = now;
    const m = memInfo(mem);
    if (monoNow() - this.disk.at > DISK_EVERY_MS) await this.sampleDisk();
    return { cpuPercent: Math.max(0, Math.min(100, cpuPercent)), memUsedBytes: m.used, memTotalBytes: m.total, diskUsedBytes: this.disk.used, diskTotalBytes: this.disk.total };
  }

  private async sampleDisk(): Promise<void> {
    let used = 0;
    let total = 0;
    let mounts: string[] = ['/'];
    try {
      mounts = realMounts(await fsp.readFile('/proc/self/mounts', 'utf8'));
    } catch {
      /* no /proc: the root filesystem only */
    }
    for (const mnt of mounts) {
      try {
        const s = await fs.promises.statfs(mnt);
        total += s.blocks * s.bsize;
        used += (s.blocks - s.bfree) * s.bsize;
      } catch {
        /* unmounted meanwhile or not readable */
      }
    }
    this.disk = { used, total, at: monoNow() };
  }
}
