// `ip monitor link address route` as the trigger (iproute2 6.1 ignores -j here: parse the text). Each
// line names an interface (or, for a route we cannot attribute, null = "look at all of them").
import { spawn, type ChildProcess } from 'node:child_process';

export function interfaceOfLine(line: string): string | null {
  const link = /^(?:Deleted )?\d+: ([^:@\s]+)[@:\s]/.exec(line);
  if (link) return link[1]!;
  const dev = /\bdev (\S+)/.exec(line);
  return dev ? dev[1]! : null;
}

export class LinkMonitor {
  private child: ChildProcess | null = null;
  private stopped = false;

  constructor(private readonly onChange: (iface: string | null) => void) {}

  start(): void {
    if (this.stopped) return;
    const child = spawn('ip', ['monitor', 'link', 'address', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) this.onChange(interfaceOfLine(line));
      }
    });
    child.on('exit', () => {
      if (!this.stopped) setTimeout(() => this.start(), 1000); // never go deaf
    });
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill();
  }
}
