// The updater's plan (docs/updates.md) run against a model of Docker's two names: from any point where the
// updater may be killed (and restarted by its policy), it ends with exactly one agent under
// orchestrator_agent, running with the old restart policy, nothing under orchestrator_agent_old; the new one
// only when the gate passed in an uninterrupted trial.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextUpdaterAction, type SeenContainer, type UpdatePhase, type UpdaterAction } from '../../src/update/updater-plan.js';

interface Model {
  phase: UpdatePhase;
  reason?: string;
  current: SeenContainer | null;
  old: SeenContainer | null;
  createdHere: string | null;
  made: number;
  /** The new agent writes state.json with a schema the old one refuses (a schema bump), once it ran. */
  schemaBump: boolean;
  stateNewer: boolean;
  restored: number;
}

const fresh = (schemaBump = false): Model => ({ phase: 'prepared', current: { id: 'old', running: true, restartPolicy: 'unless-stopped' }, old: null, createdHere: null, made: 0, schemaBump, stateNewer: false, restored: 0 });

function apply(m: Model, a: UpdaterAction, gatePasses: boolean): boolean {
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
      m.stateNewer ||= m.schemaBump;
      break;
    case 'restoreState':
      m.stateNewer = false;
      m.restored++;
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
      return true;
  }
  return false;
}

/** A power cut and the boot after it: only what ran with a restart policy other than `no` runs again. */
const boot = (c: SeenContainer | null) => c && { ...c, running: c.running && c.restartPolicy !== 'no' };

/** Runs the updater; `killAfter`: the action count after which it is killed and restarted (once), `powerCut`: with every container. */
function run(gatePasses: boolean, killAfter: number | null, powerCut = false, schemaBump = false): { m: Model; actions: string[] } {
  const m = fresh(schemaBump);
  const actions: string[] = [];
  // The old agent never runs on a state.json it would refuse (stranded in refusing mode, CONTRACT §8).
  const notStranded = () => assert.ok(!m.stateNewer || ![m.current, m.old].some((c) => c?.id === 'old' && c.running), `old agent on a newer schema after ${actions.join(' ')}`);
  for (let i = 0; i < 50; i++) {
    if (i === killAfter) m.createdHere = null; // a new updater process: it knows only update.json and Docker
    if (i === killAfter && powerCut) [m.current, m.old] = [boot(m.current), boot(m.old)];
    notStranded();
    // What the updater reads from the data dir (state-snapshot.ts restoreNeeded); the snapshot is always there.
    const restoreState = m.phase === 'rolling_back' && m.stateNewer;
    const a = nextUpdaterAction({ phase: m.phase, oldId: 'old', oldPolicy: 'unless-stopped', current: m.current, old: m.old, createdHere: m.createdHere, restoreState });
    actions.push(a.do);
    if (apply(m, a, gatePasses)) {
      notStranded();
      return { m, actions };
    }
  }
  assert.fail(`no end: ${actions.join(' ')}`);
}

const endsWithOneAgent = (m: Model, id: string | RegExp) => {
  assert.equal(m.old, null, 'nothing left under orchestrator_agent_old');
  assert.ok(m.current, 'an agent under orchestrator_agent');
  assert.match(m.current.id, id instanceof RegExp ? id : new RegExp(`^${id}$`));
  assert.deepEqual([m.current.running, m.current.restartPolicy], [true, 'unless-stopped']);
};

test('a good update: the old one is kept until the gate passes, then removed', () => {
  const { m, actions } = run(true, null);
  assert.deepEqual(actions, ['renameCurrentToOld', 'setPhase', 'stopOld', 'createCandidate', 'startTrial', 'gate', 'setCurrentPolicy', 'removeOld', 'setPhase', 'finish']);
  assert.equal(m.phase, 'committed');
  endsWithOneAgent(m, 'new1');
});

test('a candidate that fails the gate: removed, the old one renamed back, its policy restored, started', () => {
  const { m } = run(false, null);
  assert.equal(m.phase, 'rolled_back');
  endsWithOneAgent(m, 'old');
});

test('the updater killed after any action ends in one working agent: the new one only past a finished gate', () => {
  const steps = run(true, null).actions.length;
  for (let k = 1; k < steps; k++) {
    for (const gatePasses of [true, false]) {
      const { m } = run(gatePasses, k);
      const gateDone = k > 5; // renameCurrentToOld … startTrial, gate: the 6th action
      const newWins = gatePasses && (k <= 4 || gateDone);
      assert.equal(m.phase, newWins ? 'committed' : 'rolled_back', `kill after ${k}, gate ${gatePasses}`);
      endsWithOneAgent(m, newWins ? /^new\d$/ : 'old');
      if (k === 5) assert.match(m.reason ?? '', /interrupted during the trial/);
    }
  }
});

test('a power cut after any action (every container stopped, the boot starts what has a restart policy) ends in one running agent', () => {
  const steps = run(true, null).actions.length;
  for (let k = 1; k < steps; k++) {
    for (const gatePasses of [true, false]) {
      const { m } = run(gatePasses, k, true);
      const newWins = gatePasses && (k <= 4 || k > 5);
      assert.equal(m.phase, newWins ? 'committed' : 'rolled_back', `power cut after ${k}, gate ${gatePasses}`);
      endsWithOneAgent(m, newWins ? /^new\d$/ : 'old');
    }
  }
});

test('committing with the new agent container gone: back to the old one', () => {
  const a = nextUpdaterAction({ phase: 'committing', oldId: 'old', oldPolicy: 'unless-stopped', current: null, old: { id: 'old', running: false, restartPolicy: 'no' }, createdHere: null });
  assert.deepEqual(a, { do: 'setPhase', phase: 'rolling_back', reason: 'the new agent container is gone' });
});

test('a new agent that bumped the schema: every rollback puts the snapshot back before the old agent starts, a commit keeps the newer file', () => {
  const steps = run(true, null).actions.length;
  for (const powerCut of [false, true]) {
    for (let k = 1; k < steps; k++) {
      for (const gatePasses of [true, false]) {
        const { m, actions } = run(gatePasses, k, powerCut, true);
        const at = `${powerCut ? 'power cut' : 'kill'} after ${k}, gate ${gatePasses}`;
        if (m.phase === 'committed') assert.equal(m.stateNewer, true, `${at}: the new agent's file stays`);
        else assert.deepEqual([m.stateNewer, m.restored], [false, 1], `${at}: every rollback here follows a trial`);
        endsWithOneAgent(m, m.phase === 'committed' ? /^new\d$/ : 'old');
        assert.ok(actions.filter((a) => a === 'restoreState').length <= 1, at);
      }
    }
  }
});

test('the same schema: a rollback never touches state.json', () => {
  for (let k = 1; k < 10; k++) assert.ok(!run(false, k).actions.includes('restoreState'));
});
