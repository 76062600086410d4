// A private dockerd for tests and the demo: its own data/exec roots and socket, no bridge, no iptables,
// internal bridges from 198.18.0.0/16 (benchmark range). Never the machine's default Docker socket.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';

export interface Engine {
  dockerHost: string; // unix:///…/docker.sock
  socketPath: string;
  docker: Docker;
  /** True when this process started the engine (and must stop it). */
  owned: boolean;
  dir: string | null;
  /** Stops the daemon only (its data stays), as a service stop or a power cut would. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the daemon again on the same data. */
  resume(): Promise<void>;
  /** Stops the daemon and removes everything it had. */
  stop(): Promise<void>;
}

const DEFAULT_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];

export function dockerFor(dockerHost: string): Docker {
  const socketPath = dockerHost.replace(/^unix:\/\//, '');
  if (DEFAULT_SOCKETS.includes(path.resolve(socketPath))) throw new Error(`refusing the machine's default Docker socket ${socketPath} in tests`);
  return new Docker({ socketPath });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startPrivateEngine(): Promise<Engine> {
  const given = process.env.ORCH_TEST_DOCKER_HOST;
  if (given) {
    const docker = dockerFor(given);
    await docker.ping();
    const unsupported = () => Promise.reject(new Error('an engine named by ORCH_TEST_DOCKER_HOST cannot be stopped by the tests'));
    return { dockerHost: given, socketPath: given.replace(/^unix:\/\//, ''), docker, owned: false, dir: null, halt: unsupported, resume: unsupported, stop: async () => {} };
  }
  if (spawnSync('which', ['dockerd']).status !== 0) {
    throw new Error('dockerd not found: install it with `apt-get install -y docker.io busybox-static` (as root)');
  }
  if (process.getuid?.() !== 0) throw new Error('the private Docker engine needs root');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-engine-'));
  const socketPath = path.join(dir, 'docker.sock');
  const pidfile = path.join(dir, 'docker.pid');
  const docker = new Docker({ socketPath });

  const resume = async () => {
    const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
    const child = spawn(
      'dockerd',
      [
        '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '-H', `unix://${socketPath}`,
        '--pidfile', pidfile, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
        '--default-address-pool', 'base=198.18.0.0/16,size=24',
      ],
      { stdio: ['ignore', log, log], detached: true },
    );
    child.unref();
    fs.closeSync(log);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await docker.ping();
        return;
      } catch {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`private dockerd did not start; log: ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').slice(-2000)}`);
        }
        await sleep(100);
      }
    }
  };

  const halt = async (signal: NodeJS.Signals = 'SIGTERM') => {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidfile, 'utf8'));
    } catch {
      return;
    }
    if (pid > 0 && alive(pid)) {
      process.kill(pid, signal);
      for (let i = 0; i < 300 && alive(pid); i++) await sleep(100);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  };

  const stop = async () => {
    // dockerd leaves its bridges in the host namespace when it stops: note them, delete them after.
    let bridges: string[] = [];
    try {
      bridges = (await docker.listNetworks()).filter((n) => n.Driver === 'bridge').map((n) => `br-${n.Id.slice(0, 12)}`);
    } catch {
      /* engine already gone */
    }
    await halt();
    for (const b of bridges) spawnSync('ip', ['link', 'del', b], { stdio: 'ignore' });
    spawnSync('umount', ['-R', '-l', path.join(dir, 'exec')], { stdio: 'ignore' });
    spawnSync('umount', ['-R', '-l', path.join(dir, 'data')], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  await resume();
  return { dockerHost: `unix://${socketPath}`, socketPath, docker, owned: true, dir, halt, resume, stop };
}
