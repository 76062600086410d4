// One agent per data dir. A pid file with the owner's start time: a stale owner (dead, or a reused pid)
// is detected at once, so a SIGKILL never blocks the next start (CONTRACT §2).
import fs from 'node:fs';
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

export class DataDirLock {
  private constructor(private readonly file: string) {}

  static acquire(dataDir: string, name = 'agent.lock'): DataDirLock {
    const file = path.join(dataDir, name);
    const me = `${process.pid} ${processStartTime(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
        return new DataDirLock(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
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
    fs.rmSync(this.file, { force: true });
  }
}
