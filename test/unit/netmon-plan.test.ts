// The netmon swap's plan (docs/updates.md, "Netmon") against a model of Docker's two names
// (autonomy_netmon, autonomy_netmon_old): from any point where the agent may be killed or the power cut,
// it ends with exactly one netmon, running with the old restart policy; the new one only past a finished gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  INTERRUPTED_NETMON_TRIAL,
  netmonSwapDecision,
  netmonTargetImage,
  nextNetmonAction,
  recordFailedNetmon,
} from '../../src/update/netmon-plan.js';
import type { SeenContainer, UpdatePhase } from '../../src/update/updater-plan.js';

interface Model {
  phase: UpdatePhase;
  reason?: string;
  current: SeenContainer | null;
  old: SeenContainer | null;
  createdHere: string | null;
  made: number;
}

const boot = (c: SeenContainer | null) => c && { ...c, running: c.running && c.restartPolicy !== 'no' };

function run(gatePasses: boolean, killAfter: number | null, powerCut = false): { m: Model; actions: string[] } {
  const m: Model = { phase: 'prepared', current: { id: 'old', running: true, restartPolicy: 'unless-stopped' }, old: null, createdHere: null, made: 0 };
  const actions: string[] = [];
  for (let i = 0; i < 50; i++) {
    if (i === killAfter) m.createdHere = null; // the agent restarted: it knows netmon-update.json and Docker only
    if (i === killAfter && powerCut) [m.current, m.old] = [boot(m.current), boot(m.old)];
    const a = nextNetmonAction({ phase: m.phase, oldId: 'old', oldPolicy: 'unless-stopped', current: m.current, old: m.old, createdHere: m.createdHere });
    actions.push(a.do);
    switch (a.do) {
      case 'renameCurrentToOld':
        [m.old, m.current] = [m.current, null];
        break;
      case 'stopOld':
        m.old = { ...m.old!, restartPolicy: 'no', running: false };
        break;
      case 'removeCurrent':
        m.current = null;
        break;
      case 'createCandidate':
        m.current = { id: `new${++m.made}`, running: false, restartPolicy: 'no' };
        m.createdHere = m.current.id;
        break;
      case 'startTrial':
        m.phase = 'trial';
        m.current = { ...m.current!, running: true };
        break;
      case 'gate':
        m.phase = gatePasses ? 'committing' : 'rolling_back';
        break;
      case 'setPhase':
        m.phase = a.phase;
        m.reason ??= a.reason;
        break;
      case 'setCurrentPolicy':
        m.current = { ...m.current!, restartPolicy: a.policy };
        break;
      case 'removeOld':
        m.old = null;
        break;
      case 'renameOldToCurrent':
        [m.current, m.old] = [m.old, null];
        break;
      case 'startCurrent':
        m.current = { ...m.current!, running: true };
        break;
      case 'finish':
        return { m, actions };
    }
  }
  assert.fail(`no end: ${actions.join(' ')}`);
}

const endsWithOneNetmon = (m: Model, id: RegExp) => {
  assert.equal(m.old, null, 'nothing left under autonomy_netmon_old');
  assert.ok(m.current);
  assert.match(m.current.id, id);
  assert.deepEqual([m.current.running, m.current.restartPolicy], [true, 'unless-stopped']);
};

test('a good swap and a failed one', () => {
  const good = run(true, null);
  assert.deepEqual(good.actions, ['renameCurrentToOld', 'setPhase', 'stopOld', 'createCandidate', 'startTrial', 'gate', 'setCurrentPolicy', 'removeOld', 'setPhase', 'finish']);
  endsWithOneNetmon(good.m, /^new1$/);
  const bad = run(false, null);
  assert.equal(bad.m.phase, 'rolled_back');
  endsWithOneNetmon(bad.m, /^old$/);
});

test('the agent killed, or the power cut, after any action: one netmon, the new one only past a finished gate', () => {
  const steps = run(true, null).actions.length;
  for (const powerCut of [false, true]) {
    for (let k = 1; k < steps; k++) {
      for (const gatePasses of [true, false]) {
        const { m } = run(gatePasses, k, powerCut);
        const newWins = gatePasses && (k <= 4 || k > 5);
        assert.equal(m.phase, newWins ? 'committed' : 'rolled_back', `after ${k}, gate ${gatePasses}, power cut ${powerCut}`);
        endsWithOneNetmon(m, newWins ? /^new\d$/ : /^old$/);
        if (k === 5) assert.equal(m.reason, INTERRUPTED_NETMON_TRIAL);
      }
    }
  }
});

test('reasons name netmon, not the agent', () => {
  const a = nextNetmonAction({ phase: 'committing', oldId: 'old', oldPolicy: 'unless-stopped', current: null, old: { id: 'old', running: false, restartPolicy: 'no' }, createdHere: null });
  assert.deepEqual(a, { do: 'setPhase', phase: 'rolling_back', reason: 'the new netmon container is gone' });
});

test('the target image: the order names it, else the agent tag on the running netmon repository', () => {
  assert.equal(netmonTargetImage('reg:5000/n:x', 'a:v2', 'n:v1'), 'reg:5000/n:x');
  assert.equal(netmonTargetImage(null, 'ghcr.io/o/orchestrator-agent:v1.3.0', 'ghcr.io/o/orchestrator-netmon:v1.2.0'), 'ghcr.io/o/orchestrator-netmon:v1.3.0');
  assert.equal(netmonTargetImage(undefined, 'agent', 'localhost:5000/netmon'), 'localhost:5000/netmon:latest');
  assert.equal(netmonTargetImage(null, 'agent:v2@sha256:' + 'a'.repeat(64), 'netmon:v1'), 'netmon:v2');
  assert.equal(netmonTargetImage(null, 'agent:v2', 'sha256:' + 'b'.repeat(64)), null);
  assert.equal(netmonTargetImage(null, 'agent:v2', 'netmon@sha256:' + 'b'.repeat(64)), null);
});

test('no swap to the running image; a failed image is refused, not retried; the failed list', () => {
  assert.deepEqual(netmonSwapDecision('sha256:1', 'sha256:1', []), { swap: false, why: 'netmon already runs this image', error: false });
  assert.deepEqual(netmonSwapDecision('sha256:1', 'sha256:2', []), { swap: true });
  const failed = recordFailedNetmon([], 'sha256:2', 'exited', 't');
  const d = netmonSwapDecision('sha256:1', 'sha256:2', failed);
  assert.equal(d.swap, false);
  assert.ok(!d.swap && d.error && /failed before: exited/.test(d.why));
  assert.deepEqual(recordFailedNetmon(failed, 'sha256:3', INTERRUPTED_NETMON_TRIAL, 't'), failed);
  let many = failed;
  for (let i = 0; i < 30; i++) many = recordFailedNetmon(many, `sha256:x${i}`, 'r', 't');
  assert.equal(many.length, 20);
  assert.equal(recordFailedNetmon(failed, 'sha256:2', 'again', 't2').length, 1);
});
