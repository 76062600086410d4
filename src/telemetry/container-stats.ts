// CPU and memory of one runtime container, as cheaply for the engine as the host allows:
// - its cgroup files when this process can see them (agent on the host, or /sys/fs/cgroup of the host
//   mounted): two or three small reads, no Docker call at all. cgroup v2 (cpu.stat, memory.current,
//   memory.stat) and v1 (cpuacct.usage, memory.usage_in_bytes, memory.stat). Found once per container
//   through /proc/<pid>/cgroup (checked to name the container id) or the usual cgroupfs/systemd paths;
// - else the engine's one-shot stats (`one-shot=true`: no 1 s wait in the engine), at most once per
//   API_EVERY_MS, CPU from the difference with the previous one-shot.
// CPU % = Δcontainer CPU time / Δwall time · 100 (the same figure as Docker's Δcontainer / Δsystem ·
// online CPUs); memory = usage − inactive file cache (what `docker stats` shows).
import { monoNow } from '../clock.js';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';

export interface ContainerUsage {
  cpuPercent: number;
  memoryMb: number;
}

/** Runtimes through the engine's API: at most one stats call per container per 30 s (CONTRACT §5.5's floor). */
export const API_EVERY_MS = 30_000;

export type CgroupFiles = { v: 2; dir: string } | { v: 1; cpuacct: string; memory: string };

/** Pure: the cgroup directories of a process from /proc/<pid>/cgroup, when they name `id`. */
export function cgroupFromProc(text: string, id: string, root: string, v2: boolean): CgroupFiles | null {
  const lines = text.split('\n').map((l) => l.split(':'));
  if (v2) {
    const p = lines.find((l) => l[0] === '0' && l[1] === '')?.[2];
    return p?.includes(id) ? { v: 2, dir: path.join(root, p) } : null;
  }
  const of = (ctl: string) => lines.find((l) => l[1]?.split(',').includes(ctl))?.[2];
  const cpu = of('cpuacct');
  const mem = of('memory');
  if (!cpu?.includes(id) || !mem?.includes(id)) return null;
  return { v: 1, cpuacct: path.join(root, 'cpuacct', cpu), memory: path.join(root, 'memory', mem) };
}

/** Pure: usage − inactive file cache from memory.stat, bytes. */
export function memoryFromStat(usage: number, stat: string, v: 1 | 2): number {
  const key = v === 2 ? 'inactive_file' : 'total_inactive_file';
  const m = new RegExp(`^${key} (\\d+)`, 'm').exec(stat);
  return Math.max(0, usage - (m ? Number(m[1]) : 0));
}

/** Pure: usage_usec from a v2 cpu.stat, as nanoseconds. */
export function cpuNsFromV2(stat: string): number {
  return Number(/^usage_usec (\d+)/m.exec(stat)?.[1] ?? NaN) * 1000;
}

async function exists(p: string): Promise<boolean> {
  return fsp.access(p).then(() => true, () => false);
}

interface Known {
  id: string;
  files: CgroupFiles | null; // null: not visible here, use the API
  prev: { cpuNs: number; atNs: number } | null;
  apiAt: number;
  apiPrev: { cpu: number; system: number } | null;
}

// cgroup files are the kernel's, made in memory on read: a runtime's three read synchronously cost ~22 µs
// of CPU, through fs.promises.readFile (open/stat/read/close on the thread pool) ~285 µs: 50 runtimes
// 12.3 ms per heartbeat instead of 1.1 (bench/cgroup-sample.bench.ts under --jitless; issue #12).
const read = (file: string) => fs.readFileSync(file, 'utf8');

export class ContainerSampler {
  private readonly known = new Map<string, Known>();
  private v2: boolean | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly root = '/sys/fs/cgroup',
    private readonly procRoot = '/proc',
  ) {}

  /** Forgets containers not in `names` (deleted runtimes). */
  retain(names: ReadonlySet<string>): void {
    for (const n of this.known.keys()) if (!names.has(n)) this.known.delete(n);
  }

  /** How the container is sampled ("cgroup v1", "cgroup v2", "api"), once it has been seen. */
  mode(name: string): string | undefined {
    const k = this.known.get(name);
    return k ? (k.files ? `cgroup v${k.files.v}` : 'api') : undefined;
  }

  /** A sample, or null when there is none this round (first cgroup reading, or API cadence). */
  async sample(name: string, now = monoNow()): Promise<ContainerUsage | null> {
    let k = this.known.get(name);
    if (!k) {
      k = await this.locate(name);
      this.known.set(name, k);
    }
    if (k.files) {
      try {
        return this.fromCgroup(k);
      } catch {
        this.known.delete(name); // re-created (new id) or gone: find it again next round
        return null;
      }
    }
    if (now - k.apiAt < API_EVERY_MS) return null;
    k.apiAt = now;
    try {
      return await this.fromApi(name, k);
    } catch (e) {
      this.known.delete(name);
      throw e;
    }
  }

  private async locate(name: string): Promise<Known> {
    const info = await this.docker.getContainer(name).inspect();
    const known: Known = { id: info.Id, files: null, prev: null, apiAt: -Infinity, apiPrev: null };
    this.v2 ??= await exists(path.join(this.root, 'cgroup.controllers'));
    const pid = info.State?.Pid ?? 0;
    let files: CgroupFiles | null = null;
    if (pid > 0) {
      try {
        files = cgroupFromProc(await fsp.readFile(path.join(this.procRoot, String(pid), 'cgroup'), 'utf8'), info.Id, this.root, this.v2);
      } catch {
        /* pid not visible from here */
      }
    }
    if (!files) {
      const parent = info.HostConfig?.CgroupParent || 'docker';
      const rel = [path.join(parent, info.Id), `system.slice/docker-${info.Id}.scope`, path.join(parent.replace(/^\//, ''), `docker-${info.Id}.scope`)];
      for (const r of rel) {
        const c: CgroupFiles = this.v2 ? { v: 2, dir: path.join(this.root, r) } : { v: 1, cpuacct: path.join(this.root, 'cpuacct', r), memory: path.join(this.root, 'memory', r) };
        if (await exists(c.v === 2 ? path.join(c.dir, 'cpu.stat') : path.join(c.cpuacct, 'cpuacct.usage'))) {
          files = c;
          break;
        }
      }
    }
    known.files = files;
    return known;
  }

  private fromCgroup(k: Known): ContainerUsage | null {
    const f = k.files!;
    const atNs = Number(process.hrtime.bigint());
    let cpuNs: number;
    let memory: number;
    if (f.v === 2) {
      cpuNs = cpuNsFromV2(read(path.join(f.dir, 'cpu.stat')));
      memory = memoryFromStat(Number(read(path.join(f.dir, 'memory.current'))), read(path.join(f.dir, 'memory.stat')), 2);
    } else {
      cpuNs = Number(read(path.join(f.cpuacct, 'cpuacct.usage')));
      memory = memoryFromStat(Number(read(path.join(f.memory, 'memory.usage_in_bytes'))), read(path.join(f.memory, 'memory.stat')), 1);
    }
    if (!Number.isFinite(cpuNs) || !Number.isFinite(memory)) throw new Error('unreadable cgroup files');
    const prev = k.prev;
    k.prev = { cpuNs, atNs };
    if (!prev || atNs <= prev.atNs) return null;
    return { cpuPercent: Math.max(0, ((cpuNs - prev.cpuNs) / (atNs - prev.atNs)) * 100), memoryMb: memory / 2 ** 20 };
  }

  private async fromApi(name: string, k: Known): Promise<ContainerUsage | null> {
    // The first call without one-shot (the engine waits ~1 s for a CPU delta, once per container);
    // after that one-shot, the CPU delta taken against our previous reading.
    const s = await this.docker.getContainer(name).stats({ stream: false, 'one-shot': k.apiPrev !== null });
    const cpu = s.cpu_stats.cpu_usage.total_usage;
    const system = s.cpu_stats.system_cpu_usage ?? 0;
    const cpus = s.cpu_stats.online_cpus ?? s.cpu_stats.cpu_usage.percpu_usage?.length ?? 1;
    const before = k.apiPrev ?? { cpu: s.precpu_stats.cpu_usage?.total_usage ?? 0, system: s.precpu_stats.system_cpu_usage ?? 0 };
    k.apiPrev = { cpu, system };
    const cpuDelta = cpu - before.cpu;
    const sysDelta = system - before.system;
    const cpuPercent = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
    const stats = s.memory_stats.stats as Record<string, number> | undefined;
    const cache = stats?.inactive_file ?? stats?.total_inactive_file ?? stats?.cache ?? 0;
    return { cpuPercent, memoryMb: Math.max(0, (s.memory_stats.usage ?? 0) - cache) / 2 ** 20 };
  }
}
