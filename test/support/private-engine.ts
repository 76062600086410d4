// A private dockerd for tests and the demo: its own data/exec roots and socket, no bridge, no iptables,
// internal bridges from 198.18.0.0/16 (benchmark range). Never the machine's default Docker socket.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { trixieSourceStanza } from './apt-sources.js';

export interface Engine {
  dockerHost: string; // unix:///…/docker.sock
  socketPath: string;
  docker: Docker;
  dir: string | null;
  /** Stops the daemon only (its data stays), as a service stop or a power cut would. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the daemon again on the same data. */
  resume(): Promise<void>;
  /** Stops the daemon and removes everything it had. */
  stop(): Promise<void>;
}

const DEFAULT_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
const ROOT = path.resolve(import.meta.dirname, '../..');

/** Which engine generation the tests run on: ORCH_TEST_ENGINE=system (default: Debian 12's docker.io 20.10, API 1.41) or docker26 (Debian 13's docker.io 26, API 1.45). */
export const ENGINE_KIND = (process.env.ORCH_TEST_ENGINE ?? 'system') as 'system' | 'docker26';

/**
 * Debian 13's docker.io 26 and containerd 1.7, unpacked into .cache/docker26 (nothing installed
 * system-wide; apt pointed at a private state directory). The system's runc and docker-init are used:
 * Debian 13's runc needs a newer glibc. See ../shared/reference/platform-notes.md, last section.
 */
export function docker26Root(): string {
  const d = path.join(ROOT, '.cache', 'docker26');
  const root = path.join(d, 'root');
  if (fs.existsSync(path.join(root, 'usr/sbin/dockerd'))) return root;
  for (const sub of ['lists/partial', 'cache/archives/partial', 'parts', 'debs']) fs.mkdirSync(path.join(d, sub), { recursive: true });
  fs.writeFileSync(path.join(d, 'parts', 'trixie.sources'), `${trixieSourceStanza()}\n`);
  const apt = ['-o', `Dir::State::Lists=${d}/lists`, '-o', `Dir::Cache=${d}/cache`, '-o', 'Dir::Etc::SourceList=/dev/null', '-o', `Dir::Etc::SourceParts=${d}/parts`, '-o', 'APT::Sandbox::User=root'];
  const run = (cmd: string, args: string[], cwd?: string) => {
    const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.slice(-1500)}`);
  };
  run('apt-get', [...apt, '-q', 'update']);
  run('apt-get', [...apt, '-q', 'download', 'docker.io', 'containerd'], path.join(d, 'debs'));
  const tmp = `${root}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const deb of fs.readdirSync(path.join(d, 'debs')).filter((f) => f.endsWith('.deb'))) run('dpkg-deb', ['-x', path.join(d, 'debs', deb), tmp]);
  fs.renameSync(tmp, root);
  return root;
}

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

/** `dataRootBytes`: the engine's data root on a tmpfs of that size (a Docker data root that can fill up). */
export async function startPrivateEngine(opts: { dataRootBytes?: number } = {}): Promise<Engine> {
  const given = process.env.ORCH_TEST_DOCKER_HOST;
  if (given) {
    const docker = dockerFor(given);
    await docker.ping();
    const unsupported = () => Promise.reject(new Error('an engine named by ORCH_TEST_DOCKER_HOST cannot be stopped by the tests'));
    return { dockerHost: given, socketPath: given.replace(/^unix:\/\//, ''), docker, dir: null, halt: unsupported, resume: unsupported, stop: async () => {} };
  }
  if (ENGINE_KIND === 'system' && spawnSync('which', ['dockerd']).status !== 0) {
    throw new Error('dockerd not found: install it with `apt-get install -y docker.io busybox-static` (as root)');
  }
  if (process.getuid?.() !== 0) throw new Error('the private Docker engine needs root');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-engine-'));
  const socketPath = path.join(dir, 'docker.sock');
  const pidfile = path.join(dir, 'docker.pid');
  if (opts.dataRootBytes !== undefined) {
    fs.mkdirSync(path.join(dir, 'data'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${opts.dataRootBytes}`, 'tmpfs', path.join(dir, 'data')]);
  }
  const docker = new Docker({ socketPath });

  const d26 = ENGINE_KIND === 'docker26' ? docker26Root() : null;
  const initPath = spawnSync('which', ['docker-init'], { encoding: 'utf8' }).stdout.trim();
  const resume = async () => {
    const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
    const child = spawn(
      d26 ? path.join(d26, 'usr/sbin/dockerd') : 'dockerd',
      [
        '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '-H', `unix://${socketPath}`,
        '--pidfile', pidfile, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
        // Each generation its own benchmark-range pool, so that their bridges never collide.
        '--default-address-pool', `base=${d26 ? '198.19.0.0/16' : '198.18.0.0/16'},size=24`,
        ...(d26 && initPath ? ['--init-path', initPath] : []),
      ],
      {
        stdio: ['ignore', log, log],
        detached: true,
        env: d26 ? { ...process.env, PATH: `${d26}/usr/sbin:${d26}/usr/bin:${process.env.PATH ?? ''}` } : process.env,
      },
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
    // Every mount dockerd left under its dir (e.g. the nsfs at exec/netns/default after a host-network
    // container: `exec` itself is no mount point, so a recursive umount of it does nothing), deepest first.
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.sort().reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  await resume();
  return { dockerHost: `unix://${socketPath}`, socketPath, docker, dir, halt, resume, stop };
}

/**
 * A power cut of a private engine: dockerd, its containerd, the shims and every process in its containers
 * stopped at once (SIGSTOP, then SIGKILL: nobody reaps or reacts in between), found as the processes whose
 * command line names the engine's dir and all their descendants. `engine.resume()` is the boot after it.
 */
export async function powerCut(engine: Engine): Promise<void> {
  if (!engine.dir) throw new Error('a power cut needs a private engine (not ORCH_TEST_DOCKER_HOST)');
  const procs = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return { pid: Number(p), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cmd: fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') };
    } catch {
      return null; // exited meanwhile
    }
  }).filter((p) => p !== null);
  const doomed = new Set(procs.filter((p) => p.cmd.includes(`${engine.dir}/`)).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (doomed.has(p.ppid) && !doomed.has(p.pid)) {
        doomed.add(p.pid);
        grew = true;
      }
    }
  }
  for (const sig of ['SIGSTOP', 'SIGKILL'] as const) {
    for (const pid of doomed) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  }
  for (let i = 0; i < 100 && [...doomed].some(alive); i++) await sleep(100);
  // What the reboot clears: every mount (container root filesystems, network namespace files) but the
  // disk itself (a tmpfs data root stands for one), and the exec root (/run/docker and containerd's
  // state under it are a tmpfs on a real box). Kept, containerd's stale task directories made the next
  // start fail with "failed to start shim: mkdir …: file exists" (agent-update's power-cut case, 2026-12-04).
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${engine.dir}/`) && m !== `${engine.dir}/data`);
  for (const m of mounts.sort().reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  fs.rmSync(path.join(engine.dir, 'exec'), { recursive: true, force: true, maxRetries: 3 });
}
