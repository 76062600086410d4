// netmon's start ends the udhcpc clients a dead netmon left behind, and only those: a client whose parent
// is a live netmon (another pass's, a swap's other netmon) is left running. On a fake /proc tree.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DHCP_SCRIPT_DIR_PREFIX, killOrphanDhcpClients } from '../../src/netmon/dhcp-orphans.js';

function fakeProc(procs: Record<string, { ppid: string; argv: string[] }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-proc-'));
  for (const [pid, p] of Object.entries(procs)) {
    fs.mkdirSync(path.join(dir, pid));
    fs.writeFileSync(path.join(dir, pid, 'cmdline'), `${p.argv.join('\0')}\0`);
    fs.writeFileSync(path.join(dir, pid, 'stat'), `${pid} (${path.basename(p.argv[0]!)} x) S ${p.ppid} 1 1 0 -1\n`);
  }
  fs.mkdirSync(path.join(dir, 'self'));
  return dir;
}

test('only the clients whose parent is not a live netmon are ended', () => {
  const script = `/tmp/${DHCP_SCRIPT_DIR_PREFIX}abc/script`;
  const client = ['busybox', 'udhcpc', '-f', '-i', 'eth0', '-s', script];
  const proc = fakeProc({
    1: { ppid: '0', argv: ['/sbin/init'] },
    20: { ppid: '1', argv: ['node', '--jitless', '/app/dist/main.js', 'netmon'] },
    30: { ppid: '1', argv: ['containerd-shim-runc-v2', '-namespace', 'moby'] },
    100: { ppid: '1', argv: client }, // its netmon died: reparented to init
    101: { ppid: '30', argv: client }, // its netmon's container died: reparented to the shim (a subreaper)
    102: { ppid: '20', argv: client }, // a live netmon's
    103: { ppid: '999', argv: client }, // a parent gone meanwhile: no live netmon
    104: { ppid: '1', argv: ['busybox', 'udhcpc', '-f', '-i', 'eth0'] }, // not netmon's (no script of ours)
  });
  try {
    const killed: number[] = [];
    assert.equal(killOrphanDhcpClients(proc, (pid) => void killed.push(pid)), 3);
    assert.deepEqual(killed.sort(), [100, 101, 103]);
  } finally {
    fs.rmSync(proc, { recursive: true, force: true });
  }
});
