// Usage samples of one series, oldest first, packed 12 bytes each (timestamp, cpu, memory as unsigned 32-bit
// integers) instead of a 3-element JS array per sample (~80 bytes): 48 h of 5 s host samples are 405 KiB.
// Removal happens only at the head (retention, thinning), so a head index advances and the live part is
// moved down when the free room at the head is what would otherwise make the buffer grow.
import type { Sample } from './usage-history.js';

const U32_MAX = 0xffff_ffff;
const u32 = (n: number) => Math.min(U32_MAX, Math.max(0, Math.trunc(n)));

export class SampleBuffer {
  private data = new Uint32Array(3 * 64);
  private head = 0; // in samples
  private end = 0;

  get length(): number {
    return this.end - this.head;
  }

  /** Timestamp of the i-th live sample (0 = oldest). */
  ts(i: number): number {
    return this.data[3 * (this.head + i)]!;
  }

  at(i: number): Sample {
    const o = 3 * (this.head + i);
    return [this.data[o]!, this.data[o + 1]!, this.data[o + 2]!];
  }

  push(s: Sample): void {
    if (3 * (this.end + 1) > this.data.length) {
      if (this.head >= this.length) {
        this.data.copyWithin(0, 3 * this.head, 3 * this.end);
      } else {
        const bigger = new Uint32Array(this.data.length * 2);
        bigger.set(this.data.subarray(3 * this.head, 3 * this.end));
        this.data = bigger;
      }
      this.end -= this.head;
      this.head = 0;
    }
    const o = 3 * this.end++;
    this.data[o] = u32(s[0]);
    this.data[o + 1] = u32(s[1]);
    this.data[o + 2] = u32(s[2]);
  }

  shift(): void {
    if (this.head < this.end) this.head++;
    if (this.head === this.end) this.head = this.end = 0;
  }

  /** Drops the samples older than `cutoff` (seconds). */
  dropBefore(cutoff: number): void {
    while (this.length > 0 && this.ts(0) < cutoff) this.shift();
  }

  /** Drops the samples newer than `t` (seconds): what a clock set back had stamped in its future. */
  dropAfter(t: number): void {
    while (this.length > 0 && this.ts(this.length - 1) > t) this.end--;
    if (this.head === this.end) this.head = this.end = 0;
  }

  /** Live samples with start <= timestamp <= end, appended to `out`. */
  collect(start: number, end: number, out: Sample[]): void {
    for (let i = 0; i < this.length; i++) {
      const t = this.ts(i);
      if (t >= start && t <= end) out.push(this.at(i));
    }
  }
}
