// The disk guard (issue #23): watches the free space of the Docker data root and of the agent's data dir,
// says so as the agent-level condition DiskPressure, frees space on the Docker data root by removing
// images nothing needs (image-gc.ts, least recently used first, down to the low-water mark), and refuses a
// pull that would not fit before anything stops. It never stops or deletes a PLC for space: images in use
// are not candidates, and a refused pull leaves the running container as it is (download before kill).
import fs from 'node:fs';
import type Docker from 'dockerode';
import { repoOf } from '../domain/spec-hash.js';
import type { Logger } from '../log.js';
import { imagesToRemove, type LocalImage } from './image-gc.js';
import { pullEstimate, pullShortfall } from './pull-shortfall.js';

export interface DiskReading {
  path: string;
  totalBytes: number;
  availBytes: number;
  usedPercent: number;
}

export interface DiskPressure {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface DiskGuardDeps {
  docker: Docker;
  dataDir: string;
  highWaterPercent: number;
  lowWaterPercent: number;
  /** statfs of a path on the host (netmon: the agent's container cannot see the Docker data root); null if unknown. */
  hostStatfs: (path: string) => Promise<{ totalBytes: number; availBytes: number } | null>;
  /** References that must stay local: every declared runtime's image and every rollback target. */
  keep: () => ReadonlySet<string>;
  /** The repositories whose images the agent may remove (the runtime repository, the agent's own). */
  ownRepos: () => ReadonlySet<string>;
  /** Removes one image (the executor: the one place that mutates Docker); refused by Docker if a container uses it. */
  removeImage: (id: string, refs: string[]) => Promise<void>;
  log: Logger;
}

const MiB = 2 ** 20;
const mib = (b: number) => `${Math.round(b / MiB)} MiB`;
/** At most this many GC rounds a check (each re-measures: shared layers free less than an image's size). */
const GC_ROUNDS = 5;

export class NotEnoughDiskError extends Error {}

export function statfsLocal(p: string): { totalBytes: number; availBytes: number } {
  const s = fs.statfsSync(p);
  return { totalBytes: s.blocks * s.bsize, availBytes: s.bavail * s.bsize };
}

const reading = (path: string, s: { totalBytes: number; availBytes: number }): DiskReading => ({
  path,
  ...s,
  usedPercent: s.totalBytes > 0 ? Math.round(((s.totalBytes - s.availBytes) / s.totalBytes) * 1000) / 10 : 0,
});

export class DiskGuard {
  dockerRoot: DiskReading | null = null;
  dataDir: DiskReading | null = null;
  condition: DiskPressure = { status: 'Unknown', reason: 'NotMeasured', message: 'not measured yet', lastTransitionTime: new Date().toISOString() };
  /** Images removed for space since the agent started (for metrics and doctor). */
  imagesRemoved = 0;
  private rootDir: string | null | undefined; // undefined: not asked yet
  private checking: Promise<void> | null = null;

  constructor(private readonly d: DiskGuardDeps) {}

  /** Measures both file systems, frees space on the Docker data root above the high-water mark, updates the condition. */
  check(): Promise<void> {
    // One check at a time: a pull's admission and the timer may ask together.
    this.checking ??= this.doCheck().finally(() => (this.checking = null));
    return this.checking;
  }

  private async doCheck(): Promise<void> {
    await this.measure();
    const root = this.dockerRoot;
    if (root && root.usedPercent >= this.d.highWaterPercent) {
      await this.collect(this.bytesAbove(root, this.d.lowWaterPercent));
    }
    this.updateCondition();
  }

  /**
   * Throws NotEnoughDiskError when `image` would not fit: estimated at the size of its repository's largest
   * local image, at least `minBytes` (pull-shortfall.ts).
   */
  async admitPull(image: string, minBytes = 0): Promise<void> {
    await this.measure();
    const root = this.dockerRoot;
    if (!root) return; // not measurable (no netmon): a pull is not refused on a guess
    const sameRepoSizes = await this.sameRepoSizes(image);
    const estimate = pullEstimate({ sameRepoSizes, minBytes });
    const short = () => pullShortfall({ ...this.dockerRoot!, highWaterPercent: this.d.highWaterPercent, sameRepoSizes, minBytes });
    if (short() > 0) await this.collect(short() + this.bytesAbove(this.dockerRoot!, this.d.lowWaterPercent));
    this.updateCondition();
    if (short() > 0) {
      const r = this.dockerRoot!;
      throw new NotEnoughDiskError(
        `not pulled: the Docker data root ${r.path} has ${mib(r.availBytes)} free of ${mib(r.totalBytes)}, ` +
          `the image needs about ${mib(estimate)} and ${this.d.highWaterPercent}% is the most the agent fills (ORCH_DISK_HIGH_WATER_PERCENT); ` +
          'nothing was stopped; free space on the box (images the agent does not own, other files)',
      );
    }
  }

  private bytesAbove(r: DiskReading, percent: number): number {
    return Math.max(0, r.totalBytes - r.availBytes - (r.totalBytes * percent) / 100);
  }

  private async measure(): Promise<void> {
    try {
      this.dataDir = reading(this.d.dataDir, statfsLocal(this.d.dataDir));
    } catch {
      this.dataDir = null;
    }
    try {
      if (this.rootDir === undefined) this.rootDir = ((await this.d.docker.info()) as { DockerRootDir?: string }).DockerRootDir ?? null;
    } catch {
      /* engine away: asked again next time */
    }
    if (!this.rootDir) {
      this.dockerRoot = null;
      return;
    }
    // A hand-started agent sees the data root itself; one in a container asks netmon (host mount namespace).
    let s: { totalBytes: number; availBytes: number } | null;
    try {
      s = statfsLocal(this.rootDir);
    } catch {
      s = await this.d.hostStatfs(this.rootDir).catch(() => null);
    }
    this.dockerRoot = s ? reading(this.rootDir, s) : null;
  }

  /** The sizes of the local images of the same repository (a new version is about as big). */
  private async sameRepoSizes(image: string): Promise<number[]> {
    const repo = repoOf(image);
    const images = await this.d.docker.listImages().catch(() => []);
    return images.filter((i) => (i.RepoTags ?? []).some((t) => repoOf(t) === repo)).map((i) => i.Size);
  }

  /** Removes images nothing needs until about `bytes` are freed (re-measured after each round). */
  private async collect(bytes: number): Promise<void> {
    for (let round = 0; round < GC_ROUNDS && bytes > 0; round++) {
      const before = this.dockerRoot?.availBytes ?? 0;
      const picked = imagesToRemove(await this.gcFacts(), bytes);
      if (picked.length === 0) return;
      for (const i of picked) {
        try {
          await this.d.removeImage(i.id, i.refs);
          this.imagesRemoved++;
          this.d.log.info({ image: i.refs[0] ?? i.id, sizeMiB: Math.round(i.sizeBytes / MiB) }, 'image removed for space on the Docker data root');
        } catch (e) {
          this.d.log.warn({ image: i.refs[0] ?? i.id, err: (e as Error).message }, 'image not removed');
        }
      }
      await this.measure();
      const freed = (this.dockerRoot?.availBytes ?? before) - before;
      bytes -= Math.max(freed, 1);
    }
  }

  private async gcFacts(): Promise<{ images: LocalImage[]; inUse: Set<string>; keep: ReadonlySet<string>; ownRepos: ReadonlySet<string> }> {
    const [list, containers] = await Promise.all([this.d.docker.listImages(), this.d.docker.listContainers({ all: true })]);
    const inUse = new Set(containers.map((c) => c.ImageID));
    const images: LocalImage[] = [];
    for (const i of list) {
      const refs = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
      let lastUsedMs = i.Created * 1000;
      if (!inUse.has(i.Id)) {
        // Only the candidates are inspected: LastTagTime says when it was last pulled or tagged here.
        const meta = await this.d.docker.getImage(i.Id).inspect().then((x) => (x as { Metadata?: { LastTagTime?: string } }).Metadata?.LastTagTime).catch(() => undefined);
        const t = meta ? Date.parse(meta) : NaN;
        if (t > 0) lastUsedMs = t;
      }
      images.push({ id: i.Id, refs, sizeBytes: i.Size, lastUsedMs });
    }
    return { images, inUse, keep: this.d.keep(), ownRepos: this.d.ownRepos() };
  }

  private updateCondition(): void {
    const measured: [string, DiskReading][] = [];
    if (this.dockerRoot) measured.push(['Docker data root', this.dockerRoot]);
    if (this.dataDir) measured.push(['data dir', this.dataDir]);
    const full = measured.filter(([, r]) => r.usedPercent >= this.d.highWaterPercent);
    const next: Omit<DiskPressure, 'lastTransitionTime'> =
      !this.dockerRoot && !this.dataDir
        ? { status: 'Unknown', reason: 'NotMeasured', message: 'neither the Docker data root nor the data dir could be measured' }
        : full.length > 0
          ? {
              status: 'True',
              reason: full.length === 2 ? 'BothFull' : full[0]![0] === 'data dir' ? 'DataDirFull' : 'DockerDataRootFull',
              message: full.map(([what, r]) => `${what} ${r.path} is ${r.usedPercent}% used (${mib(r.availBytes)} free)`).join('; ') + `; high-water mark ${this.d.highWaterPercent}%`,
            }
          : {
              status: 'False',
              reason: 'EnoughSpace',
              message: [this.dockerRoot && `Docker data root ${this.dockerRoot.usedPercent}% used`, this.dataDir && `data dir ${this.dataDir.usedPercent}% used`, this.dockerRoot ? null : 'Docker data root not measured'].filter(Boolean).join('; '),
            };
    if (next.status !== this.condition.status) {
      this.d.log[next.status === 'True' ? 'warn' : 'info']({ reason: next.reason }, `DiskPressure ${next.status}: ${next.message}`);
      this.condition = { ...next, lastTransitionTime: new Date().toISOString() };
    } else this.condition = { ...next, lastTransitionTime: this.condition.lastTransitionTime };
  }
}
