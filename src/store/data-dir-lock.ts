// One agent per data dir. A pid file with the owner's start time: a stale owner (dead, or a reused pid)
// is detected at once, so a SIGKILL never blocks the next start (CONTRACT §2). And always a unix socket in
// the abstract namespace, named after the data dir's device and inode, which needs no disk and which the
// kernel releases with the process: on a full or read-only data dir it is the only lock, and an agent
// that took only it must still keep out a second one started once the disk has room again (issue #26).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name (field 2) may contain spaces, so split after its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export class DataDirLockedError extends Error {}

const NO_SPACE = new Set(['ENOSPC', 'EROFS', 'EDQUOT']);

export class DataDirLock {
  private constructor(
    private readonly file: string | null,
    private readonly server: net.Server,
  ) {}

  /** True when the lock is held without a file (the data dir could not be written at start). */
  get diskless(): boolean {
    return this.file === null;
  }

  static async acquire(dataDir: string, name = 'agent.lock'): Promise<DataDirLock> {
    const server = await DataDirLock.acquireAbstract(dataDir, name);
    try {
      return new DataDirLock(DataDirLock.acquireFile(dataDir, name), server);
    } catch (e) {
      if (NO_SPACE.has((e as NodeJS.ErrnoException).code ?? '')) return new DataDirLock(null, server);
      server.close();
      throw e;
    }
  }

  private static async acquireAbstract(dataDir: string, name: string): Promise<net.Server> {
    const st = fs.statSync(dataDir);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'EADDRINUSE' ? new DataDirLockedError(`data dir ${dataDir} is in use by another agent (lock held in memory: the data dir is full or read-only)`) : e),
      );
      server.listen(`\0orchestrator-agent/${name}/${st.dev}/${st.ino}`, () => resolve());
    });
    server.unref();
    return server;
  }

  /** The pid file's path once written. */
  private static acquireFile(dataDir: string, name: string): string {
    const file = path.join(dataDir, name);
    const me = `${process.pid} ${processStartTime(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
        return file;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (NO_SPACE.has(code)) {
          // An empty file is what a failed write leaves: it names no owner, so nobody takes it for a live lock.
          fs.rmSync(file, { force: true });
          throw e;
        }
        if (code !== 'EEXIST') throw e;
      }
      let owner: string;
      try {
        owner = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      const [pidText, start] = owner.trim().split(' ');
      const pid = Number(pidText);
      const alive = Number.isInteger(pid) && pid > 0 && processStartTime(pid) !== null && processStartTime(pid) === (start ?? null);
      if (alive && pid !== process.pid) {
        throw new DataDirLockedError(`data dir ${dataDir} is in use by another agent (pid ${pid}, lock ${file})`);
      }
      fs.rmSync(file, { force: true }); // stale: its owner is gone
    }
    throw new DataDirLockedError(`could not take the lock ${file}`);
  }

  release(): void {
    if (this.file !== null) fs.rmSync(this.file, { force: true });
    this.server.close();
  }
}
