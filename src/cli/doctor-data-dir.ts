// doctor's "data dir" line: ORCH_DATA_DIR exists, is a directory and is writable. doctor never creates it:
// a mistyped ORCH_DATA_DIR must show as missing, not as a fresh empty dir that reads OK.
import fs from 'node:fs';
import path from 'node:path';
import { check, type Check } from './doctor-check.js';

const HINTS: Record<string, string> = {
  ENOENT: 'ORCH_DATA_DIR is mistyped, or the agent never ran here (it creates the dir at start); in the container it is the orchestrator volume at /var/orchestrator',
  ENOTDIR: 'a part of ORCH_DATA_DIR is a file, not a directory: check the path (ORCH_DATA_DIR must name a directory)',
  ENOSPC: 'free space on its disk (see "disk")',
  EROFS: 'the file system is read-only: remount it read-write, or mount a writable volume at ORCH_DATA_DIR',
  EACCES: 'run as root, or mount a writable volume at ORCH_DATA_DIR',
  EPERM: 'run as root, or mount a writable volume at ORCH_DATA_DIR',
};

export function dataDirCheck(dir: string): Check {
  try {
    if (!fs.statSync(dir).isDirectory()) return check('FAIL', 'data dir', `${dir} is not a directory`, HINTS.ENOTDIR);
    const probe = path.join(dir, '.doctor-probe');
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe);
    return check('OK', 'data dir', `${dir} is writable`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const what = code === 'ENOENT' ? `${dir} does not exist` : `${dir}: ${(e as Error).message}`;
    return check('FAIL', 'data dir', what, HINTS[code] ?? 'check ORCH_DATA_DIR names a directory the agent can write (run as root)');
  }
}
