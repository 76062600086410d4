// Usage samples per series ("agent", "device/<name>"), kept 48 h and across restarts. Persisted as an
// append-only log written in batches (one small append a minute, not a rewrite of the whole history:
// flash on edge boxes wears out), compacted when it holds twice what is live. Never in state.json.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const RETENTION_S = 48 * 3600;

export type Sample = [timestamp: number, cpu: number, memoryMb: number];

interface BatchLine {
  samples?: Record<string, Sample[]>;
  drop?: string;
}

export class UsageHistory {
  private readonly series = new Map<string, Sample[]>();
  private pending = new Map<string, Sample[]>();
  private pendingDrops: string[] = [];
  private lines = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  /** Loads the log; a torn last line (power cut mid-append) is skipped. */
  load(now = Math.floor(Date.now() / 1000)): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      this.lines++;
      let b: BatchLine;
      try {
        b = JSON.parse(line) as BatchLine;
      } catch {
        continue;
      }
      if (typeof b.drop === 'string') this.series.delete(b.drop);
      for (const [k, samples] of Object.entries(b.samples ?? {})) {
        if (!Array.isArray(samples)) continue;
        const s = this.series.get(k) ?? [];
        for (const x of samples) if (Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number')) s.push(x);
        this.series.set(k, s);
      }
    }
    this.prune(now);
  }

  add(key: string, sample: Sample): void {
    const s = this.series.get(key) ?? [];
    s.push(sample);
    this.series.set(key, s);
    const p = this.pending.get(key) ?? [];
    p.push(sample);
    this.pending.set(key, p);
  }

  drop(key: string): void {
    if (!this.series.delete(key)) return;
    this.pending.delete(key);
    this.pendingDrops.push(key);
  }

  keys(): string[] {
    return [...this.series.keys()];
  }

  /** Samples with start <= timestamp <= end. */
  query(key: string, start: number, end: number): Sample[] {
    return (this.series.get(key) ?? []).filter((s) => s[0] >= start && s[0] <= end);
  }

  prune(now = Math.floor(Date.now() / 1000)): void {
    const cutoff = now - RETENTION_S;
    for (const [k, s] of this.series) {
      const i = s.findIndex((x) => x[0] >= cutoff);
      if (i === -1) this.series.set(k, []);
      else if (i > 0) s.splice(0, i);
    }
  }

  /** Appends what was sampled since the last flush (one line), compacting when the log has grown. */
  flush(): Promise<void> {
    const run = async () => {
      const lines: string[] = this.pendingDrops.map((d) => JSON.stringify({ drop: d }));
      if (this.pending.size > 0) lines.push(JSON.stringify({ samples: Object.fromEntries(this.pending) }));
      this.pending = new Map();
      this.pendingDrops = [];
      if (lines.length === 0) return;
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      const fh = await fsp.open(this.file, 'a', 0o600);
      try {
        await fh.appendFile(`${lines.join('\n')}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.lines += lines.length;
      if (this.lines > 2 * (RETENTION_S / 60) + 100) await this.compact();
    };
    this.writing = this.writing.then(run, run);
    return this.writing;
  }

  private async compact(): Promise<void> {
    this.prune();
    const tmp = `${this.file}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ samples: Object.fromEntries(this.series) })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file);
    this.lines = 1;
  }
}
