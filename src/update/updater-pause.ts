// A test-only hook of the updater (docs/updates.md, "Tests"): with ORCH_TEST_UPDATER_PAUSE naming a file,
// the updater stops before an action whose `<phase>/<action>` that file lists (one a line) and waits there
// until it is killed, once per key (the keys reached are appended to `<file>.reached`), so that a real-engine
// test can SIGKILL it, or cut the power, at a chosen step. Unset (as in production): a no-op.
import fs from 'node:fs';
import type { Logger } from '../log.js';

const lines = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

export async function pauseIfAsked(key: string, log: Logger): Promise<void> {
  const file = process.env.ORCH_TEST_UPDATER_PAUSE;
  if (!file || !lines(file).includes(key) || lines(`${file}.reached`).includes(key)) return;
  const fd = fs.openSync(`${file}.reached`, 'a');
  try {
    fs.writeSync(fd, `${key}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  log.warn({ key }, 'updater: paused here for a test (ORCH_TEST_UPDATER_PAUSE) until killed');
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}
