// The agent as a real process (tsx src/main.ts run), its log kept in a file for failed tests.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait.js';

const root = path.resolve(import.meta.dirname, '../..');

export class AgentProcess {
  child: ChildProcess | null = null;
  readonly logFile: string;

  constructor(
    readonly env: Record<string, string>,
    readonly dataDir: string,
  ) {
    this.logFile = path.join(dataDir, 'agent.log');
  }

  start(): void {
    const log = fs.openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'run'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ORCH_DATA_DIR: this.dataDir, ...this.env },
      stdio: ['ignore', log, log],
      cwd: root,
    });
    fs.closeSync(log);
  }

  async ready(): Promise<void> {
    await waitFor('agent control socket', () => fs.existsSync(path.join(this.dataDir, 'agent.sock')), 20_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill(signal);
    return exited;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

/** Runs the CLI once and returns its exit code and output. */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      cwd: root,
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
