// Host metrics with systeminformation, on a fixed cadence and only with its cheap calls: currentLoad
// (a delta since the previous call) and mem each sample, fsSize (spawns df) at most once a minute,
// static facts once. Never networkInterfaces() (it blocks the event loop for ~250 ms).
import os from 'node:os';
import si from 'systeminformation';

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

const VIRTUAL_FS = new Set(['tmpfs', 'devtmpfs', 'overlay', 'squashfs', 'ramfs', 'proc', 'sysfs', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'pstore', 'autofs', 'devpts', 'mqueue', 'hugetlbfs', 'fusectl', 'nsfs', 'none']);
const DISK_EVERY_MS = 60_000;

export class HostMetrics {
  private disk = { used: 0, total: 0, at: 0 };
  private static_: HostStatic | null = null;

  async staticFacts(): Promise<HostStatic> {
    if (!this.static_) {
      const info = await si.osInfo();
      this.static_ = { cpus: os.cpus().length, os: `${info.distro} ${info.release}`.trim() || `${os.type()} ${os.release()}`, kernel: info.kernel || os.release() };
    }
    return this.static_;
  }

  async sample(): Promise<HostSample> {
    const [load, mem] = await Promise.all([si.currentLoad(), si.mem()]);
    if (Date.now() - this.disk.at > DISK_EVERY_MS) {
      const seen = new Set<string>();
      let used = 0;
      let total = 0;
      for (const f of await si.fsSize()) {
        if (VIRTUAL_FS.has(f.type) || seen.has(f.fs)) continue;
        seen.add(f.fs);
        used += f.used;
        total += f.size;
      }
      this.disk = { used, total, at: Date.now() };
    }
    return { cpuPercent: load.currentLoad, memUsedBytes: mem.active, memTotalBytes: mem.total, diskUsedBytes: this.disk.used, diskTotalBytes: this.disk.total };
  }
}
