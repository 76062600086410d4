import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerIdFromProc } from '../../src/docker/self-container.js';

const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);

test('cgroup v1: the id is in the cgroup path', () => {
  const files: Record<string, string> = { '/proc/self/cgroup': `12:pids:/docker/${id}\n0::/docker/${id}\n` };
  assert.equal(containerIdFromProc((f) => files[f] ?? ''), id);
});

test('cgroup v2 (namespaced "0::/"): the id comes from the engine mounts in mountinfo, whatever the hostname', () => {
  const files: Record<string, string> = {
    '/proc/self/cgroup': '0::/\n',
    '/proc/self/mountinfo': `612 598 8:1 /var/lib/docker/containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n`,
  };
  assert.equal(containerIdFromProc((f) => files[f] ?? ''), id);
});

test('no container: null', () => {
  assert.equal(containerIdFromProc(() => '0::/init.scope\n'), null);
  assert.equal(containerIdFromProc(() => {
    throw new Error('ENOENT');
  }), null);
});
