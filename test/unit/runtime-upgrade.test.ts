// Runtime version upgrades in the pure parts: the planner's steps from desired spec + observed container +
// status.upgrade + readiness observations, the status it derives, and putRuntime's orders.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Observed, ObservedContainer } from '../../src/docker/observed.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { specHash } from '../../src/domain/spec-hash.js';
import { hostFacts } from '../support/host-facts.js';
import { plan, type HostFacts } from '../../src/reconcilers/planner.js';
import { deriveStatus } from '../../src/reconcilers/status.js';
import type { Readiness } from '../../src/reconcilers/upgrade.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { initialStatus, type RuntimeRecord, type RuntimeUpgrade } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const facts = (over: Partial<HostFacts> = {}): HostFacts => hostFacts({ imagesPresent: new Set(['img:v1', 'img:v2']), mono: 0, ...over });
const spec = (version: string): RuntimeSpec => ({
  name: 'a',
  runtimeVersion: version,
  vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/24', dns: [] }],
});
const rec = (version: string, over: Partial<RuntimeRecord> = {}, upgrade?: RuntimeUpgrade): RuntimeRecord => ({
  spec: spec(version), generation: 2, running: true, restartCount: 0, deletion: null, createdAt: 'x',
  status: { ...initialStatus(), observedGeneration: 1, ...(upgrade ? { upgrade } : {}) }, ...over,
});
const upgrade = (stage: RuntimeUpgrade['stage'], over: Partial<RuntimeUpgrade> = {}): RuntimeUpgrade => ({
  generation: 2, stage, from: { spec: spec('v1'), image: 'img:v1' }, toImage: 'img:v2', startedAt: 'x', ...over,
});

/** A converged world whose container `a` runs (or is in `state`) for `s`. */
function world(s: RuntimeSpec | null, state = 'running', id = `id-${s?.runtimeVersion}`): Observed {
  const mv = 'macvlan_eth1_198.51.100.0_24';
  const c: ObservedContainer[] = s
    ? [{
        id, name: 'a', image: `img:${s.runtimeVersion}`, state, status: '',
        labels: { ...labelsFor('runtime', 'a'), [LABEL.specHash]: specHash(s), [LABEL.spec]: JSON.stringify(s) },
        networks: { [mv]: { ip: '198.51.100.10', mac: null }, a_internal: { ip: '198.18.0.2', mac: null } },
      }]
    : [];
  return {
    containers: c,
    networks: [
      { id: 'n1', name: mv, labels: labelsFor('macvlan-network'), driver: 'macvlan', parent: 'eth1', subnet: '198.51.100.0/24' },
      { id: 'n2', name: 'a_internal', labels: labelsFor('internal-network', 'a'), driver: 'bridge', parent: null, subnet: null },
    ],
    volumes: [{ name: 'a_data', labels: labelsFor('runtime-data', 'a') }],
  };
}
const actions = (steps: ReturnType<typeof plan>) => steps.map((s) => `${s.key} ${s.action}`);
const probe = (r: Partial<Readiness>): Map<string, Readiness> => new Map([['id-v2', { ready: false, expired: false, nextProbeAt: NOW, detail: 'HTTP 503', ...r }]]);

test('a new version: pulled first, then the rollback target is recorded before the old container goes', () => {
  assert.deepEqual(actions(plan({ a: rec('v2') }, world(spec('v1')), facts({ imagesPresent: new Set() }))), ['runtime/a wait', 'image/img:v2 pullImage']);
  const [begin] = plan({ a: rec('v2') }, world(spec('v1')), facts());
  assert.equal(begin?.action, 'upgradeBegin');
  assert.ok(begin?.action === 'upgradeBegin');
  assert.deepEqual(begin.from, { spec: spec('v1'), image: 'img:v1' });
  assert.equal(begin.toImage, 'img:v2');
  // Recorded: the old container is removed, the new one created and started.
  const u = upgrade('rollingOut');
  assert.deepEqual(actions(plan({ a: rec('v2', {}, u) }, world(spec('v1')), facts())), ['runtime/a removeContainer']);
  assert.deepEqual(actions(plan({ a: rec('v2', {}, u) }, world(null), facts())), ['runtime/a createContainer']);
  assert.deepEqual(actions(plan({ a: rec('v2', {}, u) }, world(spec('v2'), 'created'), facts())), ['ready/a probeReady', 'runtime/a start']);
});

test('a change that keeps the version, and a stopped runtime, re-create without a gate', () => {
  const moved = { ...spec('v1'), vnics: [{ ...spec('v1').vnics[0]!, ip: '198.51.100.11' }] };
  assert.deepEqual(actions(plan({ a: { ...rec('v1'), spec: moved } }, world(spec('v1')), facts())), ['runtime/a removeContainer']);
  assert.deepEqual(actions(plan({ a: rec('v2', { running: false }) }, world(spec('v1')), facts())), ['runtime/a removeContainer']);
});

test('the gate: probed under its own key until ready, then the record goes; never probed faster than due', () => {
  const r = rec('v2', {}, upgrade('rollingOut'));
  const w = world(spec('v2'));
  const first = plan({ a: r }, w, facts());
  assert.deepEqual(actions(first), ['ready/a probeReady', 'runtime/a wait']);
  assert.ok(first[1]?.action === 'wait' && first[1].condition === 'ContainerReady' && /^WaitingForReady/.test(first[1].reason));
  const notDue = plan({ a: r }, w, facts({ readiness: probe({ nextProbeAt: NOW + 1500 }) }));
  assert.deepEqual(actions(notDue), ['runtime/a wait']);
  assert.ok(notDue[0]?.action === 'wait' && notDue[0].until === new Date(NOW + 1500).toISOString());
  const ready = plan({ a: r }, w, facts({ readiness: probe({ ready: true }) }));
  assert.deepEqual(ready.map((s) => s.action === 'upgradeEnd' && s.outcome), ['ready']);
  // A status while gating: Creating, the generation not yet observed, ContainerReady=False WaitingForReady.
  const st = deriveStatus(r, w.containers[0], notDue[0], undefined, NOW);
  assert.equal(st.phase, 'Creating');
  assert.equal(st.observedGeneration, 1);
  assert.equal(st.conditions.find((c) => c.type === 'ContainerReady')?.reason, 'WaitingForReady');
});

test('not ready by the deadline: upgradeEnd notReady, whatever the new container is doing (a crash loop too)', () => {
  const r = rec('v2', {}, upgrade('rollingOut'));
  for (const state of ['running', 'exited']) {
    const steps = plan({ a: r }, world(spec('v2'), state), facts({ readiness: probe({ expired: true, detail: 'HTTP 503' }) }));
    assert.equal(steps.length, 1);
    assert.ok(steps[0]?.action === 'upgradeEnd' && steps[0].outcome === 'notReady');
    assert.match(steps[0].detail, /v2 did not answer GET \/api\/version within 120 s \(last: HTTP 503\)/);
  }
});

test('an agent restarted mid-upgrade continues: the recorded target stays, the gate starts again', () => {
  // Old container removed and new one running, no readiness seen by this process yet: probe, not forget.
  const r = rec('v2', {}, upgrade('rollingOut'));
  assert.deepEqual(actions(plan({ a: r }, world(spec('v2')), facts())), ['ready/a probeReady', 'runtime/a wait']);
  // Killed between the record and the removal: the old container goes now (no second record).
  assert.deepEqual(actions(plan({ a: r }, world(spec('v1')), facts())), ['runtime/a removeContainer']);
});

test('rolled back: the new container goes and the previous spec and image come back; then nothing, until a new order', () => {
  const u = upgrade('rolledBack', { failedVersion: 'v2', reason: 'v2 did not answer; rolled back to v1' });
  const r = rec('v2', {}, u);
  assert.deepEqual(actions(plan({ a: r }, world(spec('v2')), facts())), ['runtime/a removeContainer']);
  assert.deepEqual(actions(plan({ a: r }, world(null), facts())), ['runtime/a createContainer']);
  // The previous image is pulled first if this agent does not know it is local (e.g. after a restart).
  assert.deepEqual(actions(plan({ a: r }, world(null), facts({ imagesPresent: new Set() }))), ['runtime/a wait', 'image/img:v1 pullImage']);
  assert.deepEqual(plan({ a: r }, world(spec('v1')), facts()), []);
  const st = deriveStatus(r, world(spec('v1')).containers[0], undefined, undefined, NOW);
  assert.equal(st.phase, 'Running');
  assert.equal(st.observedGeneration, 1, 'the generation asked for is not what runs');
  const cr = st.conditions.find((c) => c.type === 'ContainerReady')!;
  assert.deepEqual([cr.status, cr.reason, cr.message], ['False', 'UpgradeRolledBack', u.reason]);
  // A new order (generation 3, v3): an upgrade from v1, the last proven version.
  const next = plan({ a: { ...rec('v3', { generation: 3 }, u) } }, world(spec('v1')), facts({ imagesPresent: new Set(['img:v3']) }));
  assert.ok(next[0]?.action === 'upgradeBegin' && next[0].from.image === 'img:v1');
});

test('held (the previous image is gone): the new container is stopped and nothing is created; a retry is gated again', () => {
  const u = upgrade('held', { failedVersion: 'v2', reason: 'v2 did not answer; the previous image img:v1 is no longer local: held stopped until a new order' });
  const r = rec('v2', {}, u);
  assert.deepEqual(actions(plan({ a: r }, world(spec('v2')), facts())), ['runtime/a stop']);
  assert.deepEqual(plan({ a: r }, world(spec('v2'), 'exited'), facts()), []);
  assert.deepEqual(plan({ a: r }, world(null), facts()), []);
  const st = deriveStatus(r, world(spec('v2'), 'exited').containers[0], undefined, undefined, NOW);
  assert.equal(st.phase, 'Failed');
  assert.deepEqual(st.conditions.filter((c) => c.status === 'False').map((c) => `${c.type} ${c.reason}`), ['ContainerReady UpgradeHeld', 'Running UpgradeHeld']);
  // The same version ordered again (generation 3): a new rollout from v1 before the held container starts.
  const again = plan({ a: rec('v2', { generation: 3 }, u) }, world(spec('v2'), 'exited'), facts());
  assert.ok(again[0]?.action === 'upgradeBegin' && again[0].from.image === 'img:v1' && again[0].containerId === 'id-v2');
});

test('a new order in the middle of a rollout keeps the proven version as the rollback target', () => {
  const steps = plan({ a: rec('v3', { generation: 3 }, upgrade('rollingOut')) }, world(spec('v2')), facts({ imagesPresent: new Set(['img:v3']) }));
  assert.ok(steps[0]?.action === 'upgradeBegin');
  assert.equal(steps[0].from.spec.runtimeVersion, 'v1');
});

test('putRuntime: a new runtime_version is accepted from the cloud, other changes are not; the same spec after a failure is a new order', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-upgrade-'));
  try {
    const store = await Store.open(path.join(dir, 'state.json'));
    assert.equal(await putRuntime(store, spec('v1')), 'created');
    assert.equal(await putRuntime(store, spec('v2')), 'updated');
    assert.equal(store.state.runtimes.a!.generation, 2);
    await assert.rejects(putRuntime(store, { ...spec('v3'), vnics: [{ ...spec('v3').vnics[0]!, ip: '198.51.100.12' }] }), /Container name is already in use/);
    assert.equal(await putRuntime(store, spec('v2')), 'unchanged');
    await store.update('status', (s) => void (s.runtimes.a!.status.upgrade = upgrade('rolledBack')));
    assert.equal(await putRuntime(store, spec('v2')), 'updated', 'a retry of the version that failed');
    assert.equal(store.state.runtimes.a!.generation, 3);
    assert.equal(await putRuntime(store, spec('v2')), 'unchanged', 'the record is of generation 2: one retry per order');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
