// Issue #26: a clock stepped back an hour after a crash must not keep a PLC down for an hour. The controller
// runs on an injected clock (wall and monotonic apart) against a fake engine: passes are driven by hand, so
// nothing here waits for real time. Also: a pass dispatches without waiting for its status write.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';
import type { Clock } from '../../src/clock.js';
import { attachmentsOf } from '../../src/domain/attachments.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { specHash } from '../../src/domain/spec-hash.js';
import { createLogger } from '../../src/log.js';
import { Controller } from '../../src/reconcilers/controller.js';
import type { Executor } from '../../src/reconcilers/executor.js';
import type { Step } from '../../src/reconcilers/steps.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { Store } from '../../src/store/store.js';

const spec: RuntimeSpec = { name: 'plc', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/24', dns: [] }] };
const [att] = attachmentsOf(spec, []);
const MV = att!.network!;
const mac = att!.mac;

/** The controller on a fake engine and a hand-driven clock; `onList` runs while a pass observes. */
async function fixture(t: { after: (fn: () => unknown) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-clock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await Store.open(path.join(dir, 'state.json'));
  await putRuntime(store, spec);
  const f = {
    wall: Date.parse('2026-06-01T12:00:00Z'),
    mono: 1_000_000,
    state: 'running',
    starts: [] as number[],
    onList: () => undefined as void,
    /** Lists left to show a container exited as still running (Docker 20.10 right after its `die`). */
    listLag: 0,
    inspects: 0,
  };
  const clock: Clock = { wall: () => f.wall, mono: () => f.mono };
  const docker = {
    listContainers: () => {
      const seen = f.listLag > 0 ? (f.listLag--, 'running') : f.state;
      f.onList();
      return Promise.resolve([
        { Id: 'c1', Names: ['/plc'], Image: 'img:latest', State: seen, Status: '', Labels: { ...labelsFor('runtime', 'plc'), [LABEL.specHash]: specHash(spec) }, NetworkSettings: { Networks: { [MV]: { IPAddress: '198.51.100.10', MacAddress: mac }, plc_internal: { IPAddress: '', MacAddress: '' } } } },
      ]);
    },
    listNetworks: () => Promise.resolve([
      { Id: 'n0', Name: MV, Labels: labelsFor('macvlan-network'), Driver: 'macvlan', Options: { parent: 'eth1' }, IPAM: { Config: [{ Subnet: '198.51.100.0/24' }] } },
      { Id: 'n1', Name: 'plc_internal', Labels: labelsFor('internal-network', 'plc'), Driver: 'bridge', IPAM: { Config: [] } }]),
    getContainer: () => ({ inspect: () => (f.inspects++, Promise.resolve({ State: { Running: f.state === 'running' } })) }),
    listVolumes: () => Promise.resolve({ Volumes: [{ Name: 'plc_data', Labels: labelsFor('runtime-data', 'plc') }] }),
  } as unknown as Docker;
  const executor = {
    imagesPresent: new Set(['img:latest']),
    nsMacs: new Map(),
    dhcpClients: new Map(),
    serialNodes: new Map(),
    wifiPaths: new Map(),
    ulimitsVerified: true,
    learnUlimits: () => Promise.resolve(),
    learnCgroupVersion: () => Promise.resolve(),
    readiness: () => new Map(),
    serialMajors: [188, 166, 4],
    forgetMacs: () => undefined,
    run: (step: Step) => {
      if (step.action === 'start') {
        f.starts.push(f.mono);
        f.state = 'running';
      }
      return Promise.resolve();
    },
  } as unknown as Executor;
  const controller = new Controller({
    docker, store, executor, log: createLogger('silent'), runtimeImage: 'img', resyncIntervalMs: 60_000, selfContainerId: null, netmonReady: () => true, clock,
  });
  t.after(() => controller.stop());
  const pass = async () => {
    controller.wake();
    await controller.settled();
  };
  return { f, store, controller, pass };
}

test('a wall clock stepped back an hour after a crash: the restart still comes 10 s after the crash', async (t) => {
  const { f, store, pass } = await fixture(t);

  // The agent f.starts it (a start the agent made: its exit counts as a crash).
  f.state = 'exited';
  await pass();
  assert.equal(f.starts.length, 1, 'found stopped at start: started at once');
  await pass();
  // The PLC program dies; the crash is accounted: 10 s of backoff.
  f.state = 'exited';
  const crashedAt = f.mono;
  await pass();
  assert.equal(store.state.runtimes.plc!.status.crashCount, 1);
  assert.equal(f.starts.length, 1, 'waits out its backoff');
  assert.equal(store.state.runtimes.plc!.status.backoffUntil, new Date(f.wall + 10_000).toISOString(), 'shown in wall time');

  // NTP (or a person) steps the clock back an hour; time goes on.
  f.wall -= 3_600_000;
  for (const dt of [2_000, 5_000, 9_000]) {
    f.mono = crashedAt + dt;
    f.wall += 1_000;
    await pass();
    assert.equal(f.starts.length, 1, `still waiting ${dt / 1000} s after the crash`);
  }
  f.mono = crashedAt + 10_001;
  await pass();
  assert.equal(f.starts.length, 2, 'started again 10 s after the crash, not an hour later');
  assert.equal(f.starts[1]! - crashedAt, 10_001);
  assert.equal(store.state.runtimes.plc!.status.backoffUntil, null);
  assert.equal(store.state.runtimes.plc!.status.phase, 'Running');

  // Stepped forward instead: ten minutes up by the wall clock is no reason to forget the crash loop.
  f.wall += 3 * 3_600_000;
  f.mono += 60_000;
  await pass();
  assert.equal(store.state.runtimes.plc!.status.crashCount, 1, 'the crash count survives a clock jumping forward');
  f.mono += 10 * 60_000 + 1;
  await pass();
  assert.equal(store.state.runtimes.plc!.status.crashCount, 0, 'reset after ten monotonic minutes up');
});

test('a `docker restart` by hand seen mid-way by a pass is not a crash (its start event came during the observation)', async (t) => {
  const { f, store, controller, pass } = await fixture(t);
  f.state = 'exited';
  await pass(); // found stopped: the agent starts it (so an exit of its own would count as a crash)
  await pass();
  assert.equal(f.starts.length, 1);
  // The pass lists the container exited; Docker's restart brings it back before the pass judges the exit.
  f.state = 'exited';
  f.onList = () => {
    f.state = 'running';
    f.mono += 5;
    controller.noteContainerEvent('c1', 'start');
  };
  await pass();
  f.onList = () => undefined;
  await pass();
  const st = store.state.runtimes.plc!.status;
  assert.equal(st.crashCount, 0, 'no crash counted');
  assert.equal(st.crashRestarts, 0);
  assert.equal(st.backoffUntil, null);
  assert.equal(f.starts.length, 1, 'the agent does not start it again: Docker already did');
});

test("a pass dispatches its steps without waiting for its status write (queued first, so it lands before the step's own)", async (t) => {
  const { f, store, controller, pass } = await fixture(t);
  await pass(); // running: the start-up forgiveness is written, nothing to do
  let release = () => undefined as void;
  const held = new Promise<void>((r) => (release = r));
  const update = store.update.bind(store);
  const order: string[] = [];
  store.update = (kind, mutate, options) => {
    order.push(kind);
    return kind === 'status' ? held.then(() => update(kind, mutate, options)) : update(kind, mutate, options);
  };
  f.state = 'exited'; // never started by this agent: a start, not a crash
  controller.wake();
  for (let i = 0; i < 100 && f.starts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(f.starts.length, 1, 'the start was dispatched while the status write was still pending');
  assert.equal(order[0], 'status', "the pass's status write was queued before the step's");
  release();
  await controller.settled();
  assert.equal(store.state.runtimes.plc!.status.lastStartedAt, new Date(f.wall).toISOString(), "the step's own write (after the pass's) is what stays");
});

test("a die event the engine's list does not show yet (Docker 20.10): the inspect waits for the exit, another pass counts the crash", async (t) => {
  const { f, store, controller, pass } = await fixture(t);
  f.state = 'exited';
  await pass(); // found stopped: the agent starts it
  await pass();
  assert.equal(f.starts.length, 1);
  f.state = 'exited';
  f.listLag = 1; // the pass the event wakes still lists it running
  controller.noteContainerEvent('c1', 'die');
  await pass();
  assert.equal(f.inspects, 1, 'one inspect for the one death');
  assert.equal(store.state.runtimes.plc!.status.crashCount, 1, 'the crash is counted in the pass right after, not at the resync');
  await pass();
  assert.equal(f.inspects, 1, 'a death is looked into once');

  // A die whose container the list already shows exited needs no inspect; nor a running one restarted since.
  f.mono += 10_001;
  await pass();
  assert.equal(f.starts.length, 2, 'restarted after its backoff');
  controller.noteContainerEvent('c1', 'die');
  controller.noteContainerEvent('c1', 'start');
  await pass();
  assert.equal(f.inspects, 1);
});
