// runtime_status throttle (CONTRACT §3): a phase change is pushed at once; changes of conditions alone
// at most once per runtime per second; volatile. A fake store and socket, node:test's mock clock.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { Socket } from 'socket.io-client';
import { StatusPush } from '../../src/sources/cloud/status-push.js';
import type { RuntimeRecord } from '../../src/store/schema.js';
import type { Store } from '../../src/store/store.js';

type Phase = RuntimeRecord['status']['phase'];
type Cond = RuntimeRecord['status']['conditions'][number];

/** What StatusPush reads of a Store: `state.runtimes` and the `change` event. */
class FakeStore extends EventEmitter {
  state = { runtimes: {} as Record<string, RuntimeRecord> };

  set(name: string, phase: Phase, conditions: Cond[] = [], observedGeneration = 1): void {
    this.state.runtimes[name] = { status: { phase, observedGeneration, conditions } } as unknown as RuntimeRecord;
    this.emit('change', 'runtime');
  }
}

interface Sent {
  event: string;
  payload: Record<string, unknown>;
}

function fakeSocket() {
  const volatile: Sent[] = [];
  const queued: Sent[] = [];
  const socket = {
    connected: true,
    volatile: { emit: (event: string, payload: Record<string, unknown>) => (volatile.push({ event, payload }), true) },
    emit: (event: string, payload: Record<string, unknown>) => (queued.push({ event, payload }), true),
  };
  return { socket, asSocket: socket as unknown as Socket, volatile, queued };
}

const cond = (type: Cond['type'], status: Cond['status'], reason = 'R', message = ''): Cond => ({ type, status, reason, message, lastTransitionTime: '2024-05-01T10:00:00.000Z' });

let store: FakeStore;
let s: ReturnType<typeof fakeSocket>;
let detach: () => void;

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2024-05-01T10:00:00.000Z') });
  store = new FakeStore();
  s = fakeSocket();
  detach = new StatusPush(store as unknown as Store, 'agent-7', () => Date.now()).attach(s.asSocket);
});

afterEach(() => {
  detach();
  mock.timers.reset();
});

const phases = () => s.volatile.map((x) => x.payload.phase);

test('the first change of a runtime is pushed at once, volatile, with the contract fields', () => {
  store.set('plc-a', 'Creating', [cond('ContainerReady', 'False', 'Creating', 'creating the container')], 3);
  assert.equal(s.volatile.length, 1);
  assert.equal(s.queued.length, 0, 'runtime_status is volatile, never queued');
  const { event, payload } = s.volatile[0]!;
  assert.equal(event, 'runtime_status');
  assert.deepEqual(Object.keys(payload).sort(), ['agent_id', 'conditions', 'device_id', 'observed_generation', 'phase', 'timestamp']);
  assert.equal(payload.agent_id, 'agent-7');
  assert.equal(payload.device_id, 'plc-a');
  assert.equal(payload.phase, 'Creating');
  assert.equal(payload.observed_generation, 3);
  assert.deepEqual(payload.conditions, [{ type: 'ContainerReady', status: 'False', reason: 'Creating', message: 'creating the container', last_transition_time: '2024-05-01T10:00:00.000Z' }]);
  assert.equal(payload.timestamp, '2024-05-01T10:00:00.000Z');
});

test('a store change that alters neither phase nor conditions pushes nothing', () => {
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  mock.timers.tick(5000);
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  store.emit('change', 'host');
  mock.timers.tick(5000);
  assert.deepEqual(phases(), ['Running']);
});

test('condition-only changes: at most one push per second, carrying the latest conditions', () => {
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  assert.equal(s.volatile.length, 1);
  mock.timers.tick(100);
  store.set('plc-a', 'Running', [cond('Running', 'False', 'Probe')]);
  mock.timers.tick(300);
  store.set('plc-a', 'Running', [cond('Running', 'False', 'Timeout')]);
  mock.timers.tick(599); // 999 ms after the first push
  assert.equal(s.volatile.length, 1, 'nothing more within the second');
  mock.timers.tick(1); // 1000 ms
  assert.equal(s.volatile.length, 2, 'the held change goes out when the second is over');
  assert.deepEqual((s.volatile[1]!.payload.conditions as { reason: string }[]).map((c) => c.reason), ['Timeout']);
  mock.timers.tick(10_000);
  assert.equal(s.volatile.length, 2, 'one push for the two changes, none repeated');
  // A second later still, a condition change is pushed at once again.
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  assert.equal(s.volatile.length, 3);
});

test('a condition change undone within the second never pushes the stale state', () => {
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  mock.timers.tick(200);
  store.set('plc-a', 'Running', [cond('Running', 'False', 'Probe')]);
  mock.timers.tick(200);
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  mock.timers.tick(5000);
  // Whatever goes out must be the current state: never a stale 'False'.
  assert.ok(s.volatile.every((x) => (x.payload.conditions as { status: string }[])[0]!.status === 'True'), JSON.stringify(s.volatile.map((x) => x.payload.conditions)));
});

test('the throttle is per runtime: one runtime just pushed does not hold back another', () => {
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  mock.timers.tick(10);
  store.set('plc-b', 'Running', [cond('Running', 'True')]);
  assert.deepEqual(s.volatile.map((x) => x.payload.device_id), ['plc-a', 'plc-b']);
  mock.timers.tick(10);
  store.set('plc-a', 'Running', [cond('Running', 'False')]); // held for plc-a only
  store.set('plc-c', 'Pending');
  assert.deepEqual(s.volatile.map((x) => x.payload.device_id), ['plc-a', 'plc-b', 'plc-c']);
  mock.timers.tick(980);
  assert.deepEqual(s.volatile.map((x) => x.payload.device_id), ['plc-a', 'plc-b', 'plc-c', 'plc-a']);
});

test('nothing is pushed while the socket is disconnected, nor after detach', () => {
  s.socket.connected = false;
  store.set('plc-a', 'Running');
  mock.timers.tick(2000);
  assert.equal(s.volatile.length, 0);
  s.socket.connected = true;
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  assert.equal(s.volatile.length, 1);
  store.set('plc-a', 'Running', [cond('Running', 'False')]); // held for a second
  detach();
  mock.timers.tick(5000);
  store.set('plc-a', 'Failed');
  mock.timers.tick(5000);
  assert.equal(s.volatile.length, 1, 'a detached StatusPush neither fires its held push nor listens');
});
test('a phase change is pushed at once, even within a second of the previous push', () => {
  store.set('plc-a', 'Creating');
  mock.timers.tick(50);
  store.set('plc-a', 'Running', [cond('Running', 'True')]);
  assert.deepEqual(phases(), ['Creating', 'Running'], 'the phase change must not wait for the throttle');
  mock.timers.tick(50);
  store.set('plc-a', 'Running', [cond('Running', 'False')]); // conditions only: held
  mock.timers.tick(100);
  store.set('plc-a', 'Failed', [cond('Running', 'False')]); // a phase change while a push is held
  assert.deepEqual(phases(), ['Creating', 'Running', 'Failed']);
  mock.timers.tick(5000);
  assert.deepEqual(phases(), ['Creating', 'Running', 'Failed'], 'the held push is superseded, not sent late');
});
