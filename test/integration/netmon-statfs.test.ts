// netmon's `statfs` command (issue #23): the free space of a host path, read through /proc/1/root so that
// an agent in a container learns the Docker data root's (a tmpfs of known size here).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';

let dir: string;
let mnt: string;
let netmon: NetmonProcess;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-statfs-'));
  mnt = path.join(dir, 'root');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  fs.writeFileSync(path.join(mnt, 'two-mib'), Buffer.alloc(2 * 2 ** 20, 1));
  netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), 200);
  await netmon.start();
});

after(async () => {
  await netmon?.stop();
  spawnSync('umount', ['-l', mnt]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('statfs: total and available bytes of the host path; a relative path or a ".." segment is refused; a missing path is an error', async () => {
  const c = await NetmonClient.connect(netmon.socketPath);
  try {
    const a = await c.ask({ command: 'statfs', id: 1, path: mnt });
    assert.equal(a.success, true, JSON.stringify(a));
    assert.equal(a.total_bytes, 8 * 2 ** 20);
    assert.equal(a.avail_bytes, 6 * 2 ** 20);
    for (const [id, p] of [[2, 'relative/dir'], [3, `${mnt}/../root`]] as const) {
      const r = await c.ask({ command: 'statfs', id, path: p });
      assert.deepEqual([r.success, r.error], [false, 'unknown command or bad arguments: path: expected an absolute path without ".." (at most 4096 characters)']);
    }
    const missing = await c.ask({ command: 'statfs', id: 4, path: path.join(dir, 'nope') });
    assert.equal(missing.success, false);
    assert.match(String(missing.error), /ENOENT/);
  } finally {
    c.close();
  }
});
