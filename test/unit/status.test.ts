// Status derivation (pure): phase, conditions and their transition times from what was observed and planned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ObservedContainer } from '../../src/docker/observed.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { specHash } from '../../src/domain/spec-hash.js';
import { CRASH_RESET_MS } from '../../src/reconcilers/restart-policy.js';
import { deriveStatus, type Failure } from '../../src/reconcilers/status.js';
import type { Step } from '../../src/reconcilers/steps.js';
import { initialStatus, type RuntimeRecord } from '../../src/store/schema.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const spec: RuntimeSpec = { name: 'a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/24', dns: [] }] };
const rec = (over: Partial<RuntimeRecord> = {}): RuntimeRecord => ({ spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus(), ...over });
const container = (state = 'running', labels: Record<string, string> = {}): ObservedContainer => ({
  id: 'c1', name: 'a', image: 'img:latest', state, status: '',
  labels: { ...labelsFor('runtime', 'a'), [LABEL.specHash]: specHash(spec), ...labels },
  networks: { 'macvlan_eth1_198.51.100.0_24': { ip: '198.51.100.10', mac: '02:42:c6:33:64:0a' }, a_internal: { ip: '198.18.0.2', mac: null } },
});
const wait = (condition: 'ImageReady' | 'NetworkReady' | 'Running' | 'ContainerReady', reason: string, until: string | null = null): Step => ({ key: 'runtime/a', device: 'a', action: 'wait', until, condition, reason });
const cond = (s: ReturnType<typeof deriveStatus>, type: string) => s.conditions.find((c) => c.type === type)!;

test('converged and running: phase Running, every condition True, observedGeneration caught up, endpoints without the internal network', () => {
  const s = deriveStatus(rec(), container(), undefined, undefined, T0);
  assert.equal(s.phase, 'Running');
  assert.equal(s.observedGeneration, 1);
  assert.ok(s.conditions.every((c) => c.status === 'True'), JSON.stringify(s.conditions));
  assert.deepEqual(Object.keys(s.endpoints), ['macvlan_eth1_198.51.100.0_24']);
});

test('phases: Creating before the first convergence, Pending while the network waits, Failed on a failure or a crash loop, Stopped, Deleting', () => {
  const create: Step = { key: 'runtime/a', device: 'a', action: 'createContainer', reason: 'container missing' };
  assert.equal(deriveStatus(rec(), undefined, create, undefined, T0).phase, 'Creating');
  assert.equal(deriveStatus(rec(), undefined, wait('NetworkReady', 'ParentDown: host interface eth1 is down'), undefined, T0).phase, 'Pending');
  const failure: Failure = { message: 'create a: boom', kind: 'container', reason: 'CreateFailed', count: 1, until: T0 + 1000 };
  assert.equal(deriveStatus(rec(), undefined, create, failure, T0).phase, 'Failed');
  assert.equal(deriveStatus(rec(), container('exited'), wait('Running', 'CrashLoopBackOff: next start at x', 'x'), undefined, T0).phase, 'Failed');
  assert.equal(deriveStatus(rec({ running: false }), container('exited'), undefined, undefined, T0).phase, 'Stopped');
  assert.equal(deriveStatus(rec({ deletion: { requestedAt: 'x' } }), container(), undefined, undefined, T0).phase, 'Deleting');
});

test('conditions name their reasons: Pulling, PullFailed, the wait reason prefix, SpecChanged, CrashLoopBackOff, Stopped', () => {
  const pulling = deriveStatus(rec(), undefined, wait('ImageReady', 'Pulling: image img:v2'), undefined, T0);
  assert.deepEqual([cond(pulling, 'ImageReady').status, cond(pulling, 'ImageReady').reason], ['False', 'Pulling']);
  const pullFailed: Failure = { message: 'image img:v2 could not be pulled', kind: 'image', reason: 'PullFailed', count: 2, until: T0 + 2000 };
  const failedPull = deriveStatus(rec(), container(), wait('ImageReady', 'Pulling: x'), pullFailed, T0);
  assert.deepEqual([cond(failedPull, 'ImageReady').reason, cond(failedPull, 'Running').status], ['PullFailed', 'True'], 'the old container keeps running');
  const net = deriveStatus(rec(), undefined, wait('NetworkReady', 'ParentSubnetUnknown: no subnet known for eth1'), undefined, T0);
  assert.deepEqual([cond(net, 'NetworkReady').status, cond(net, 'NetworkReady').reason], ['False', 'ParentSubnetUnknown']);
  const changed = deriveStatus(rec({ spec: { ...spec, runtimeVersion: 'v2' }, generation: 2 }), container(), undefined, undefined, T0);
  assert.equal(cond(changed, 'ContainerReady').reason, 'SpecChanged');
  const loop = deriveStatus(rec(), container('exited'), wait('Running', 'CrashLoopBackOff: next start at 2026-01-01T00:00:20.000Z', '2026-01-01T00:00:20.000Z'), undefined, T0);
  assert.equal(cond(loop, 'Running').reason, 'CrashLoopBackOff');
  assert.equal(cond(deriveStatus(rec({ running: false }), container('exited'), undefined, undefined, T0), 'Running').reason, 'Stopped');
});

test('the ulimit clamp is read from the container label (it outlives the agent process)', () => {
  const s = deriveStatus(rec(), container('running', { [LABEL.ulimits]: 'rtprio=0,memlock=8388608' }), undefined, undefined, T0);
  assert.match(cond(s, 'ContainerReady').message, /ulimits clamped to the host's hard limits \(rtprio 0, memlock 8388608\)/);
  assert.equal(cond(deriveStatus(rec(), container(), undefined, undefined, T0), 'ContainerReady').message, '');
});

test('a transition time moves only when the status (or reason) changes', () => {
  const first = deriveStatus(rec(), container(), undefined, undefined, T0);
  const same = deriveStatus(rec({ status: first }), container(), undefined, undefined, T0 + 60_000);
  assert.deepEqual(same.conditions.map((c) => c.lastTransitionTime), first.conditions.map((c) => c.lastTransitionTime));
  const stopped = deriveStatus(rec({ status: same, running: false }), container('exited'), undefined, undefined, T0 + 120_000);
  assert.equal(cond(stopped, 'Running').lastTransitionTime, new Date(T0 + 120_000).toISOString());
  assert.equal(cond(stopped, 'ImageReady').lastTransitionTime, new Date(T0).toISOString());
});

test('a crash count resets after 10 min running, not before', () => {
  const started = new Date(T0).toISOString();
  const looping = { ...initialStatus(), crashCount: 3, crashRestarts: 3, backoffUntil: started, lastStartedAt: started };
  assert.equal(deriveStatus(rec({ status: looping }), container(), undefined, undefined, T0 + CRASH_RESET_MS - 1).crashCount, 3);
  const reset = deriveStatus(rec({ status: looping }), container(), undefined, undefined, T0 + CRASH_RESET_MS + 1);
  assert.deepEqual([reset.crashCount, reset.backoffUntil, reset.crashRestarts], [0, null, 3], 'crashRestarts never goes down');
});

test('a static vNIC on a Wi-Fi parent is not NetworkReady until its proxy-ARP path is built', () => {
  const pending = deriveStatus(rec(), container(), undefined, undefined, T0, new Map(), 'eth1');
  const net = pending.conditions.find((c) => c.type === 'NetworkReady')!;
  assert.deepEqual([net.status, net.reason], ['False', 'ProxyArpPending']);
  assert.equal(deriveStatus(rec(), container(), undefined, undefined, T0).conditions.find((c) => c.type === 'NetworkReady')!.status, 'True');
});

test("a dhcp vNIC's endpoint shows the lease only: never Docker's IPAM address, before the first lease, after a lost one, or while stopped", () => {
  const dspec: RuntimeSpec = { name: 'a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'dhcp', subnet: '198.51.100.0/24', dns: [] }] };
  const c: ObservedContainer = { ...container(), labels: { ...labelsFor('runtime', 'a'), [LABEL.specHash]: specHash(dspec) } };
  const mv = 'macvlan_eth1_198.51.100.0_24';
  const lease = (event: 'pending' | 'bound' | 'lost') => ({ eth0: { event, ip: '198.51.100.44', prefix: 24, gateway: null, dns: [], leaseTime: 60, message: null, at: 'x' } });
  const withLease = (event: 'pending' | 'bound' | 'lost' | null, state = 'running') =>
    deriveStatus(rec({ spec: dspec, status: { ...initialStatus(), dhcp: event ? lease(event) : {} } }), { ...c, state }, undefined, undefined, T0).endpoints[mv]?.ip;
  assert.equal(withLease(null), null, 'before the first lease');
  assert.equal(withLease('bound'), '198.51.100.44');
  assert.equal(withLease('pending'), null, 'a new interface waits for its own lease');
  assert.equal(withLease('lost'), null);
  assert.equal(withLease('bound', 'exited'), null, 'a stopped runtime has no address');
  assert.equal(deriveStatus(rec(), container(), undefined, undefined, T0).endpoints[mv]?.ip, '198.51.100.10', 'a static vNIC: its address');
});
