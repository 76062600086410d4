// A pull's admission on the Docker data root (docs/disk-guard.md): the pure shortfall, the guard with a
// minimum size, and the agent's self-update refused in phase 1 before anything stops (docs/updates.md).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { DiskGuard, NotEnoughDiskError } from '../../src/disk/disk-guard.js';
import { pullEstimate, pullShortfall as shortfall } from '../../src/disk/pull-shortfall.js';
import { createLogger } from '../../src/log.js';
import { requestAgentUpdate } from '../../src/store/desired-state.js';
import { Store } from '../../src/store/store.js';
import { runAgentUpdate } from '../../src/update/agent-update-step.js';
import { UPDATE_FILE } from '../../src/update/update-file.js';

const MiB = 2 ** 20;
const disk = { totalBytes: 1000 * MiB, availBytes: 150 * MiB, highWaterPercent: 90 }; // 50 MiB below the mark

test('pullShortfall: the estimate against the free space above the high-water mark', () => {
  const pullShortfall = (f: Parameters<typeof shortfall>[0]) => Math.round(shortfall(f)); // 10 % of the disk is not a whole number of bytes
  assert.equal(pullShortfall({ ...disk, sameRepoSizes: [] }), -50 * MiB, 'nothing local of the repository: estimated 0, fits');
  assert.equal(pullShortfall({ ...disk, sameRepoSizes: [30 * MiB, 80 * MiB] }), 30 * MiB, 'the largest local image of the repository');
  assert.equal(pullShortfall({ ...disk, sameRepoSizes: [], minBytes: 300 * MiB }), 250 * MiB, 'the minimum when the repository has nothing local');
  assert.equal(pullShortfall({ ...disk, sameRepoSizes: [400 * MiB], minBytes: 300 * MiB }), 350 * MiB, 'the larger of the two');
  assert.ok(pullShortfall({ ...disk, sameRepoSizes: [], minBytes: 50 * MiB }) <= 0, 'exactly up to the mark: fits');
  assert.equal(pullEstimate({ sameRepoSizes: [] }), 0);
});

/** A Docker whose data root is not visible here (as in the agent's container), measured through `hostStatfs`. */
function fakeDocker(calls: string[]): Docker {
  const self = { Id: 'self1', Image: 'sha256:old', Name: '/orchestrator_agent', Config: { Image: 'reg.example/agent:v1', Env: [] }, HostConfig: { RestartPolicy: { Name: 'unless-stopped' } } };
  const record = (what: string) => () => {
    calls.push(what);
    return Promise.resolve();
  };
  return {
    info: () => Promise.resolve({ DockerRootDir: '/nonexistent/orch-test-docker' }),
    listImages: () => Promise.resolve([{ Id: 'sha256:old', RepoTags: ['reg.example/agent:v1'], Size: 300 * MiB, Created: 0 }]),
    listContainers: () => Promise.resolve([{ ImageID: 'sha256:old' }]),
    getContainer: (id: string) => ({ inspect: () => (id === 'self1' ? Promise.resolve(self) : Promise.reject(Object.assign(new Error('no such container'), { statusCode: 404 }))), stop: record(`stop ${id}`), remove: record(`remove ${id}`), rename: record(`rename ${id}`) }),
    getImage: (ref: string) => ({
      inspect: () => (ref === 'sha256:old' || ref === 'reg.example/agent:v1' ? Promise.resolve({ Id: 'sha256:old', Size: 300 * MiB, RepoDigests: [] }) : Promise.reject(Object.assign(new Error('no such image'), { statusCode: 404 }))),
      remove: record(`rmi ${ref}`),
    }),
    createContainer: record('create'),
    pull: record('pull'),
  } as unknown as Docker;
}

function guard(docker: Docker, calls: string[]): DiskGuard {
  return new DiskGuard({
    docker,
    dataDir: os.tmpdir(),
    highWaterPercent: 90,
    lowWaterPercent: 80,
    hostStatfs: () => Promise.resolve({ totalBytes: disk.totalBytes, availBytes: disk.availBytes }),
    keep: () => new Set(),
    ownRepos: () => new Set(['reg.example/agent']),
    removeImage: (id) => {
      calls.push(`rmi ${id}`);
      return Promise.resolve();
    },
    log: createLogger('silent'),
  });
}

test('admitPull: an image of another repository is admitted on an estimate of 0, refused with a minimum size', async () => {
  const calls: string[] = [];
  const g = guard(fakeDocker(calls), calls);
  await g.admitPull('other.example/agent:v2');
  await assert.rejects(g.admitPull('other.example/agent:v2', 300 * MiB), (e: Error) => {
    assert.ok(e instanceof NotEnoughDiskError);
    assert.match(e.message, /^not pulled: the Docker data root \/nonexistent\/orch-test-docker has 150 MiB free of 1000 MiB, the image needs about 300 MiB and 90% is the most/);
    return true;
  });
  assert.deepEqual(calls, [], 'the image in use is not collected');
});

test('the agent update to an image of another repository that cannot fit: error in phase 1, nothing stopped, nothing created', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-upd-disk-'));
  const store = await Store.open(path.join(dataDir, 'state.json'));
  await requestAgentUpdate(store, { image: 'other.example/agent:v2', digest: null, byContainer: 'self1' });
  const calls: string[] = [];
  const docker = fakeDocker(calls);
  const g = guard(docker, calls);
  await runAgentUpdate({
    docker,
    pullDocker: docker,
    store,
    log: createLogger('silent'),
    dataDir,
    selfContainerId: 'self1',
    version: 'v1',
    gateSeconds: 120,
    admitPull: (image, minBytes) => g.admitPull(image, minBytes),
    netmonSwap: { docker, store, log: createLogger('silent'), dataDir, gateSeconds: 120, link: () => ({ connected: true, connectedMono: null, lastDiscoveryMono: null, version: null }) },
    notReady: () => null,
  });
  const u = store.state.agent.update!;
  assert.equal(u.step, 'pulling_images');
  assert.match(u.error ?? '', /^image other\.example\/agent:v2: not pulled: the Docker data root \/nonexistent\/orch-test-docker has 150 MiB free of 1000 MiB, the image needs about 300 MiB .*nothing was stopped/);
  assert.deepEqual(calls, [], 'no pull, no container created, stopped or removed');
  assert.equal(fs.existsSync(path.join(dataDir, UPDATE_FILE)), false, 'no update.json');
});
