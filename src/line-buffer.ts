// Newline-delimited streams (netmon socket, control socket, Docker events): chunks in, whole lines out.
import { StringDecoder } from 'node:string_decoder';

export class LineBuffer {
  private buf = '';
  // A stream decoder: a UTF-8 character split across two chunks waits for its last bytes instead of
  // becoming two replacement characters.
  private decoder = new StringDecoder('utf8');

  /** Feeds a chunk; returns the lines it completed (without their newline). */
  push(chunk: Buffer | string): string[] {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
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
    this.decoder = new StringDecoder('utf8');
  }
}
