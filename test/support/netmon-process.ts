// The netmon sidecar as a real process, and a raw socket client that records what it says.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait.js';

const root = path.resolve(import.meta.dirname, '../..');

export class NetmonProcess {
  child: ChildProcess | null = null;
  constructor(
    readonly socketPath: string,
    readonly debounceMs: number,
    /** More environment for the sidecar (e.g. ORCH_NETMON_SERIAL_GLOBS). */
    readonly env: Record<string, string> = {},
  ) {}

  async start(): Promise<void> {
    const log = fs.openSync(`${this.socketPath}.log`, 'a');
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'netmon'], {
      env: { PATH: process.env.PATH ?? '', ORCH_NETMON_SOCKET: this.socketPath, ORCH_NETMON_DEBOUNCE_MS: String(this.debounceMs), ORCH_LOG_LEVEL: 'info', ORCH_DATA_DIR: path.dirname(this.socketPath), ...this.env },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    await waitFor('netmon socket', async () => {
      if (this.child?.exitCode !== null) throw new Error(`netmon exited: ${fs.readFileSync(`${this.socketPath}.log`, 'utf8').slice(-1000)}`);
      return fs.existsSync(this.socketPath) && (await canConnect(this.socketPath));
    }, 20_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  }
}

function canConnect(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

export class NetmonClient {
  readonly lines: { at: number; msg: Record<string, unknown> }[] = [];
  private sock!: net.Socket;

  static async connect(p: string): Promise<NetmonClient> {
    const c = new NetmonClient();
    c.sock = net.connect(p);
    let buf = '';
    c.sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        c.lines.push({ at: Date.now(), msg: JSON.parse(buf.slice(0, nl)) as Record<string, unknown> });
        buf = buf.slice(nl + 1);
      }
    });
    await new Promise<void>((resolve, reject) => {
      c.sock.once('connect', resolve);
      c.sock.once('error', reject);
    });
    return c;
  }

  write(text: string): void {
    this.sock.write(text);
  }

  async ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const n = this.lines.length;
    this.write(`${JSON.stringify(cmd)}\n`);
    return (await waitFor('netmon answer', () => this.lines.slice(n).find((l) => !('type' in l.msg) && l.msg.id === cmd.id)?.msg, 10_000));
  }

  events(type: string, iface?: string) {
    return this.lines.filter((l) => l.msg.type === type && (iface === undefined || l.msg.interface === iface));
  }

  close(): void {
    this.sock.destroy();
  }
}
