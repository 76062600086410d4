// Newline-delimited streams (netmon socket, control socket, Docker events): chunks in, whole lines out.
export class LineBuffer {
  private buf = '';

  /** Feeds a chunk; returns the lines it completed (without their newline). */
  push(chunk: Buffer | string): string[] {
    this.buf += chunk.toString();
    const parts = this.buf.split('\n');
    this.buf = parts.pop()!;
    return parts;
  }

  /** Characters of the line still incomplete. */
  get pending(): number {
    return this.buf.length;
  }

  clear(): void {
    this.buf = '';
  }
}
