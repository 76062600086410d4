// The createContainer step starts the container it made, in the same step, only while the record still asks
// for it (do no harm): a runtime deleted, stopped, re-specified or uninstalled during its create is never
// started. A fake engine records the calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { Executor } from '../../src/reconcilers/executor.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { initialStatus, type RuntimeRecord } from '../../src/store/schema.js';

const spec: RuntimeSpec = { name: 'a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.2', subnet: '198.51.100.0/24', dns: [] }] };
const rec = (): RuntimeRecord => ({ spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus() });

/** `duringCreate` runs while POST /containers/create is in flight (what a desired write would change meanwhile). */
type World = { runtimes: Record<string, RuntimeRecord>; agent: { uninstall: unknown } };
const RLIMIT_REFUSAL = 'OCI runtime create failed: setting rlimit type 14: operation not permitted';
/** `duringRemove`: set, the first start is refused with `refusal` (the retry: remove, re-create). */
function world(duringCreate: (state: World) => void = () => undefined, duringRemove?: (state: World) => void, refusal = RLIMIT_REFUSAL) {
  const calls: string[] = [];
  const state = { runtimes: { a: rec() }, agent: { uninstall: null as unknown }, host: { interfaces: [], serialDevices: [] } };
  let n = 0;
  let refused = false;
  const container = (id: string) => ({
    id,
    start: () => {
      if (duringRemove && !refused) {
        refused = true;
        calls.push(`refused start ${id}`);
        return Promise.reject(new Error(refusal));
      }
      return Promise.resolve(void calls.push(`start ${id}`));
    },
    remove: () => {
      duringRemove?.(state);
      return Promise.resolve(void calls.push(`remove ${id}`));
    },
  });
  const docker = {
    version: () => Promise.resolve({ ApiVersion: '1.44' }),
    createVolume: () => Promise.resolve(void calls.push('createVolume')),
    createNetwork: () => Promise.resolve(void calls.push('createNetwork')),
    createContainer: async () => {
      await Promise.resolve();
      duringCreate(state);
      const id = `c${++n}`;
      calls.push(`create ${id}`);
      return container(id);
    },
    getNetwork: () => ({ connect: () => Promise.resolve(void calls.push('connect')) }),
    getContainer: (id: string) => container(id),
  } as unknown as Docker;
  const log = { warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Logger;
  const e = new Executor({ docker, store: { state, update: () => Promise.resolve() } as unknown as Store, log, runtimeImage: 'img', selfContainerId: null, setMac: null });
  e.ulimitsVerified = true;
  const run = () => e.run({ key: 'runtime/a', device: 'a', action: 'createContainer', reason: 'container missing' });
  return { calls, run };
}

test('createContainer starts the container it made, in the same step', async () => {
  const w = world();
  assert.deepEqual(await w.run(), { started: 'c1' });
  assert.deepEqual(w.calls.filter((c) => c.startsWith('create ') || c.startsWith('start')), ['create c1', 'start c1']);
});

for (const [what, change] of [
  ['deleted', (s: { runtimes: Record<string, RuntimeRecord> }) => void (s.runtimes.a!.deletion = { requestedAt: 'x' } as unknown as RuntimeRecord['deletion'])],
  ['stopped', (s: { runtimes: Record<string, RuntimeRecord> }) => void (s.runtimes.a!.running = false)],
  ['re-specified', (s: { runtimes: Record<string, RuntimeRecord> }) => void (s.runtimes.a!.generation = 2)],
  ['forgotten', (s: { runtimes: Record<string, RuntimeRecord> }) => void delete s.runtimes.a],
  ['uninstalled', (s: { agent: { uninstall: unknown } }) => void (s.agent.uninstall = { step: 'deleting_runtimes' })],
] as const) {
  test(`a runtime ${what} while its container was being created is not started`, async () => {
    const w = world(change);
    assert.deepEqual(await w.run(), { started: null });
    assert.ok(w.calls.includes('create c1'));
    assert.ok(!w.calls.some((c) => c.startsWith('start')), w.calls.join(', '));
  });
}

test('a ulimit-refused first start is retried on a re-created container, which is the one recorded as started', async () => {
  const w = world(undefined, () => undefined);
  assert.deepEqual(await w.run(), { started: 'c2' });
  assert.deepEqual(w.calls.filter((c) => /^(create|start|refused|remove) /.test(c)), ['create c1', 'refused start c1', 'remove c1', 'create c2', 'start c2']);
});

test('a runtime deleted during the ulimit retry is neither re-created nor started', async () => {
  const w = world(undefined, (s) => void (s.runtimes.a!.deletion = { requestedAt: 'x' } as unknown as RuntimeRecord['deletion']));
  assert.deepEqual(await w.run(), { started: null });
  assert.deepEqual(w.calls.filter((c) => /^(create|start|refused|remove) /.test(c)), ['create c1', 'refused start c1', 'remove c1']);
});

test("a start refused for the engine's leftover task (an engine stopped mid-start) is retried once on a re-created container", async () => {
  const leftover = `(HTTP code 500) server error - task ${'8'.repeat(64)}: already exists`;
  const w = world(undefined, () => undefined, leftover);
  assert.deepEqual(await w.run(), { started: 'c2' });
  assert.deepEqual(w.calls.filter((c) => /^(create|start|refused|remove) /.test(c)), ['create c1', 'refused start c1', 'remove c1', 'create c2', 'start c2']);
  const other = world(undefined, () => undefined, 'task exists: elsewhere');
  await assert.rejects(other.run(), /start a: task exists: elsewhere/);
  assert.ok(!other.calls.includes('remove c1'), 'any other refusal removes nothing');
});
