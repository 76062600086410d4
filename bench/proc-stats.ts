// /proc readings for the benchmarks, the way the yardstick measures: a process together with its live
// descendants. CPU = utime+stime+cutime+cstime (children already reaped are in c*time) of the process
// plus those of its live descendants; memory = VmRSS and RssAnon of the process plus its descendants;
// disk = write_bytes from /proc/<pid>/io (what reached the block layer or the page cache as dirty).
import fs from 'node:fs';
import os from 'node:os';

export const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64/arm64

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number; // utime + stime + cutime + cstime
}

function readStat(pid: number): Stat | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' '); // f[0] = state (field 3)
    return { pid, ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

export function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = readStat(Number(d));
    if (s) out.push(s);
  }
  return out;
}

/** The pid and all its live descendants. */
export function tree(root: number, stats = allStats()): Stat[] {
  const kids = new Map<number, Stat[]>();
  for (const s of stats) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), s]);
  const self = stats.find((s) => s.pid === root);
  if (!self) return [];
  const out: Stat[] = [];
  const walk = (s: Stat) => {
    out.push(s);
    for (const k of kids.get(s.pid) ?? []) walk(k);
  };
  walk(self);
  return out;
}

function statusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function writeBytes(pid: number): number {
  try {
    const m = /^write_bytes: (\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface Window {
  label: string;
  cpuPct: number; // % of one core over the window
  rssAvgMiB: number;
  rssMaxMiB: number;
  /** When the VmRSS maximum was sampled (to find it in the process's log). */
  rssMaxAt: Date | null;
  anonAvgMiB: number;
  anonMaxMiB: number;
  writtenBytes: number;
  seconds: number;
}

/** CPU ticks of a set of processes selected afresh at each call (e.g. a tree, or the engine's daemons). */
export type Selector = () => Stat[];

export const treeOf = (pid: number): Selector => () => tree(pid);

/**
 * Samples each selector once a second for `seconds`: memory each second, CPU from the tick totals at
 * both ends. Ticks of a process that exited in the window are in its parent's cutime/cstime.
 */
export async function sampleWindow(targets: { label: string; select: Selector; memory: boolean }[], seconds: number): Promise<Window[]> {
  const ticks0 = targets.map((t) => t.select().reduce((a, s) => a + s.ticks, 0));
  const io0 = targets.map((t) => t.select().reduce((a, s) => a + writeBytes(s.pid), 0));
  const t0 = process.hrtime.bigint();
  const rss = targets.map(() => [] as number[]);
  const anon = targets.map(() => [] as number[]);
  const at: Date[] = [];
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    at.push(new Date());
    targets.forEach((t, k) => {
      if (!t.memory) return;
      const procs = t.select();
      rss[k]!.push(procs.reduce((a, s) => a + statusKb(s.pid, 'VmRSS'), 0) / 1024);
      anon[k]!.push(procs.reduce((a, s) => a + statusKb(s.pid, 'RssAnon'), 0) / 1024);
    });
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return targets.map((t, k) => {
    const procs = t.select();
    const ticks = procs.reduce((a, s) => a + s.ticks, 0) - ticks0[k]!;
    const avg = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
    return {
      label: t.label,
      cpuPct: (ticks / CLK_TCK / wall) * 100,
      rssAvgMiB: avg(rss[k]!),
      rssMaxMiB: Math.max(0, ...rss[k]!),
      rssMaxAt: rss[k]!.length ? at[rss[k]!.indexOf(Math.max(...rss[k]!))]! : null,
      anonAvgMiB: avg(anon[k]!),
      anonMaxMiB: Math.max(0, ...anon[k]!),
      writtenBytes: procs.reduce((a, s) => a + writeBytes(s.pid), 0) - io0[k]!,
      seconds: wall,
    };
  });
}

export function machine(): string {
  let distro = '';
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    /* unknown */
  }
  const cg = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'cgroup v2' : 'cgroup v1';
  return `${os.hostname()}: ${distro}, kernel ${os.release()}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${cg}, node ${process.version}`;
}
