// Usage samples per series ("agent", "device/<name>"), kept 48 h and across restarts. Persisted as an
// append-only log written in batches (one small append every FLUSH_EVERY_S, not a rewrite of the whole
// history: flash on edge boxes wears out), compacted when it holds twice what is live. Never in state.json.
// In memory (issue #12: no growth while idle): packed buffers (sample-buffer.ts), pruned to 48 h as
// samples arrive; a runtime's series keeps every sample of the last hour and, older than that, at
// least one per 30 s (CONTRACT §5.5 asks no more of runtimes), so 50 runtimes hold ~4 MiB at 48 h
// instead of ~140 MiB as arrays of every heartbeat.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { SampleBuffer } from './sample-buffer.js';

export const RETENTION_S = 48 * 3600;
/** A thinned series keeps every sample this recent. */
export const FULL_RESOLUTION_S = 3600;
/** …and older than that, samples no further apart than this (unless the samples themselves were). */
export const THINNED_SPACING_S = 30;

/**
 * The batch: each fsynced append costs a journal commit besides its data, so the write rate at idle is
 * about one commit per batch (docs/performance.md: 1.07 MB/h at 10 runtimes with a batch a minute); a
 * power cut loses at most one batch of samples (an orderly stop flushes).
 */
export const FLUSH_EVERY_S = 120;

export type Sample = [timestamp: number, cpu: number, memoryMb: number];

interface BatchLine {
  samples?: Record<string, Sample[]>;
  drop?: string;
}

/** Oldest first: `thinned` (older than FULL_RESOLUTION_S, thinned series only), then `full`. */
interface Series {
  thinned: SampleBuffer | null;
  full: SampleBuffer;
}

export interface UsageHistoryOptions {
  /** Series whose samples older than an hour are thinned to one per 30 s (the runtimes'). */
  thinned?: (key: string) => boolean;
}

export class UsageHistory {
  private readonly series = new Map<string, Series>();
  private pending = new Map<string, Sample[]>();
  private pendingDrops: string[] = [];
  private lines = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly options: UsageHistoryOptions = {},
  ) {}

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
        for (const x of samples as unknown[]) if (Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number')) this.record(k, x as Sample);
      }
    }
    this.prune(now);
  }

  add(key: string, sample: Sample): void {
    this.record(key, sample);
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
    const s = this.series.get(key);
    const out: Sample[] = [];
    s?.thinned?.collect(start, end, out);
    s?.full.collect(start, end, out);
    return out;
  }

  prune(now = Math.floor(Date.now() / 1000)): void {
    const cutoff = now - RETENTION_S;
    for (const s of this.series.values()) {
      s.thinned?.dropBefore(cutoff);
      s.full.dropBefore(cutoff);
    }
  }

  /** Keeps a sample in memory: retention counted from it, and a thinned series' samples past the hour thinned. */
  private record(key: string, sample: Sample): void {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { thinned: this.options.thinned?.(key) ? new SampleBuffer() : null, full: new SampleBuffer() }));
    const t = sample[0];
    // Samples stay in time order: a clock set back (an edge box whose RTC ran ahead, corrected by NTP)
    // drops what it had stamped in the future, which would otherwise hold retention and thinning up.
    s.thinned?.dropAfter(t);
    s.full.dropAfter(t);
    s.full.push(sample);
    if (s.thinned) {
      // The oldest full-resolution sample leaves for the thinned part; it is kept there only if the next one
      // would be more than THINNED_SPACING_S after the last kept one (so no gap grows beyond that).
      const { thinned, full } = s;
      while (full.length >= 2 && full.ts(0) < t - FULL_RESOLUTION_S) {
        if (thinned.length === 0 || full.ts(1) - thinned.ts(thinned.length - 1) > THINNED_SPACING_S) thinned.push(full.at(0));
        full.shift();
      }
      thinned.dropBefore(t - RETENTION_S);
    }
    s.full.dropBefore(t - RETENTION_S);
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
      if (this.lines > 2 * (RETENTION_S / FLUSH_EVERY_S) + 100) await this.compact();
    };
    this.writing = this.writing.then(run, run);
    return this.writing;
  }

  private async compact(): Promise<void> {
    this.prune();
    const tmp = `${this.file}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      const samples = Object.fromEntries([...this.series.keys()].map((k) => [k, this.query(k, 0, Number.MAX_SAFE_INTEGER)]));
      await fh.writeFile(`${JSON.stringify({ samples })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file);
    this.lines = 1;
  }
}
