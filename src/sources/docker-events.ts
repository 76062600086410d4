// Docker events only wake the reconcilers (they never write desired state). The stream dies with the
// engine and does not come back by itself: re-subscribe with `since`, and wake for a full resync.
import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import { LABEL } from '../domain/names.js';
import { LineBuffer } from '../line-buffer.js';

export class DockerEventsSource {
  private stream: NodeJS.ReadableStream | null = null;
  private since = Math.floor(Date.now() / 1000);
  private retryMs = 500;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly docker: Docker,
    private readonly onEvent: (reason: string, container?: { id: string; action: string }) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.subscribe();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    (this.stream as unknown as { destroy?: () => void } | null)?.destroy?.();
  }

  private async subscribe(): Promise<void> {
    if (this.stopped) return;
    try {
      const stream = await this.docker.getEvents({ since: this.since, filters: { label: [`${LABEL.managed}=true`] } });
      this.stream = stream;
      this.retryMs = 500;
      this.onEvent('events subscribed');
      const lines = new LineBuffer();
      stream.on('data', (chunk: Buffer) => {
        for (const line of lines.push(chunk)) {
          try {
            const ev = JSON.parse(line) as { time?: number; Type?: string; Action?: string; Actor?: { ID?: string } };
            if (typeof ev.time === 'number') this.since = ev.time;
            const id = ev.Actor?.ID;
            this.onEvent(`${ev.Type ?? '?'} ${ev.Action ?? '?'}`, ev.Type === 'container' && id && ev.Action ? { id, action: ev.Action } : undefined);
          } catch {
            /* partial or foreign line: ignore */
          }
        }
      });
      const broken = () => {
        if (this.stream !== stream) return;
        this.stream = null;
        this.retry('event stream ended');
      };
      stream.on('error', broken);
      stream.on('close', broken);
      stream.on('end', broken);
    } catch (e) {
      this.retry(`cannot subscribe to events: ${(e as Error).message}`);
    }
  }

  private retry(why: string): void {
    if (this.stopped) return;
    this.log.warn({ retryMs: this.retryMs }, `docker ${why}; re-subscribing`);
    this.timer = setTimeout(() => void this.subscribe(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }
}
