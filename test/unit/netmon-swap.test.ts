// The netmon swap's executor against a fake engine (names, policies, running, images): a Docker call that
// keeps failing neither loops without end nor leaves netmon stopped, and an image gone before the swap ends
// the order with nothing stopped. The phase table itself is netmon-plan.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { createLogger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';
import { runNetmonSwap, type NetmonSwapDeps } from '../../src/update/netmon-swap.js';

interface Box {
  id: string;
  name: string;
  image: string;
  running: boolean;
  policy: string;
}

/** `failCreate`: POST /containers/create answers 500 (a full disk, a broken engine). */
function engine(o: { images: Record<string, string>; failCreate?: boolean }) {
  const boxes: Box[] = [{ id: 'old1', name: 'autonomy_netmon', image: 'sha256:old', running: true, policy: 'unless-stopped' }];
  const calls: string[] = [];
  const err = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });
  const byRef = (ref: string) => boxes.find((b) => b.id === ref || b.name === ref);
  const container = (ref: string) => ({
    inspect: () => {
      const b = byRef(ref);
      if (!b) return Promise.reject(err(404, `no such container: ${ref}`));
      return Promise.resolve({ Id: b.id, Name: `/${b.name}`, Image: b.image, State: { Running: b.running, Restarting: false, ExitCode: 0 }, RestartCount: 0, HostConfig: { RestartPolicy: { Name: b.policy } }, Config: { Env: [], Labels: {} } });
    },
    rename: ({ name }: { name: string }) => (calls.push(`rename ${ref} ${name}`), (byRef(ref)!.name = name), Promise.resolve()),
    update: ({ RestartPolicy }: { RestartPolicy: { Name: string } }) => ((byRef(ref)!.policy = RestartPolicy.Name), Promise.resolve()),
    stop: () => (calls.push(`stop ${ref}`), (byRef(ref)!.running = false), Promise.resolve()),
    start: () => (calls.push(`start ${ref}`), (byRef(ref)!.running = true), Promise.resolve()),
    remove: () => (calls.push(`remove ${ref}`), boxes.splice(boxes.indexOf(byRef(ref)!), 1), Promise.resolve()),
  });
  const docker = {
    getContainer: container,
    getImage: (ref: string) => ({
      inspect: () => (o.images[ref] !== undefined ? Promise.resolve({ Id: o.images[ref], Config: { Env: ['AGENT_VERSION=v2'] } }) : ref === 'sha256:old' ? Promise.resolve({ Id: ref, Config: { Env: [] } }) : Promise.reject(err(404, `no such image: ${ref}`))),
    }),
    createContainer: () => (calls.push('create'), o.failCreate ? Promise.reject(err(500, 'no space left on device')) : Promise.reject(err(500, 'not modelled'))),
  } as unknown as Docker;
  return { docker, boxes, calls };
}

function deps(docker: Docker): NetmonSwapDeps & { state: { agent: { failedNetmonUpdates?: unknown[] } } } {
  const state = { agent: { failedNetmonUpdates: [] as unknown[] } };
  const store = { state, update: (_k: string, f: (s: typeof state) => void) => Promise.resolve(f(state)) } as unknown as Store;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-swap-'));
  const link = () => ({ connected: true, connectedMono: null, lastDiscoveryMono: null, version: null });
  return { docker, store, log: createLogger('silent'), dataDir, gateSeconds: 120, link, retry: { pauseMs: 5, budgetMs: 50 }, state };
}

const order = { requestedAt: '2026-12-04T00:00:00.000Z', image: 'reg.example/netmon:v2' };

test('a netmon image removed after phase 1 ends the order in error, nothing stopped', async () => {
  const e = engine({ images: {} });
  const r = await runNetmonSwap(deps(e.docker), order);
  assert.deepEqual(r, { end: 'error', error: 'netmon image reg.example/netmon:v2 is no longer local (removed after it was pulled)' });
  assert.deepEqual(e.calls, []);
  assert.deepEqual(e.boxes, [{ id: 'old1', name: 'autonomy_netmon', image: 'sha256:old', running: true, policy: 'unless-stopped' }]);
});

test('a create that keeps failing rolls back within the budget: the old netmon runs again under its name, the image is not recorded', async () => {
  const e = engine({ images: { 'reg.example/netmon:v2': 'sha256:new' }, failCreate: true });
  const d = deps(e.docker);
  const results = [];
  // The controller re-plans the step after each pending end; bounded so a loop fails the test.
  for (let i = 0; i < 100; i++) {
    const r = await runNetmonSwap(d, order);
    results.push(r.end);
    if (r.end !== 'pending') {
      assert.equal(r.end, 'error');
      assert.match((r as { error: string }).error, /^netmon rolled back: a Docker call kept failing for 0.05 s: no space left on device$/);
      break;
    }
  }
  assert.notEqual(results.at(-1), 'pending', `still pending after ${results.length} runs`);
  assert.ok(e.calls.includes('stop old1'), e.calls.join(', '));
  assert.deepEqual(e.boxes, [{ id: 'old1', name: 'autonomy_netmon', image: 'sha256:old', running: true, policy: 'unless-stopped' }]);
  assert.deepEqual(d.state.agent.failedNetmonUpdates, []);
  assert.ok(!fs.existsSync(path.join(d.dataDir, 'netmon-update.json')));
});
