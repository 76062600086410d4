import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imagesToRemove, type LocalImage } from '../../src/disk/image-gc.js';

const MiB = 2 ** 20;
const img = (id: string, refs: string[], mib: number, lastUsedMs: number): LocalImage => ({ id, refs, sizeBytes: mib * MiB, lastUsedMs });
const images = [
  img('sha256:v1', ['ghcr.io/x/runtime:v1'], 100, 1),
  img('sha256:v0', ['ghcr.io/x/runtime:v0'], 100, 2),
  img('sha256:old', ['ghcr.io/x/runtime:old'], 100, 3),
  img('sha256:dangling', [], 50, 4),
  img('sha256:newer', ['ghcr.io/x/runtime:newer'], 100, 5),
  img('sha256:foreign', ['nginx:latest'], 100, 0),
  img('sha256:mixed', ['ghcr.io/x/runtime:m', 'nginx:m'], 100, 0),
];
const facts = {
  images,
  inUse: new Set(['sha256:v1']), // a runtime's container (running or stopped)
  keep: new Set(['ghcr.io/x/runtime:v0']), // a declared runtime or a rollback target
  ownRepos: new Set(['ghcr.io/x/runtime']),
};

test('image GC: least recently used first, only what no container uses and nothing keeps, only the agent\'s repositories and dangling images', () => {
  assert.deepEqual(imagesToRemove(facts, 1).map((i) => i.id), ['sha256:old']);
  assert.deepEqual(imagesToRemove(facts, 120 * MiB).map((i) => i.id), ['sha256:old', 'sha256:dangling']);
  assert.deepEqual(imagesToRemove(facts, 10_000 * MiB).map((i) => i.id), ['sha256:old', 'sha256:dangling', 'sha256:newer'], 'never v1 (in use), v0 (kept), nginx or an image also tagged for another repository');
  assert.deepEqual(imagesToRemove(facts, 0), []);
});
