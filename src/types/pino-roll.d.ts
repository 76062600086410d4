// pino-roll ships no types: the part of its API the agent uses (a SonicBoom stream that rolls by size).
declare module 'pino-roll' {
  import type { EventEmitter } from 'node:events';

  export interface PinoRollStream extends EventEmitter {
    readonly destroyed: boolean;
    readonly file: string;
    write(data: string): boolean;
    flush(cb?: (err?: Error | null) => void): void;
    end(): void;
  }

  export interface PinoRollOptions {
    file: string;
    size?: string | number;
    extension?: string;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
    /** SonicBoom: lines beyond this many buffered bytes are dropped ('drop' event) instead of queued. */
    maxLength?: number;
    minLength?: number;
  }

  export default function build(options: PinoRollOptions): Promise<PinoRollStream>;
}
