// The ulimit prediction from the engine's processes, on a fake /proc: it predicts only when every visible
// engine process tells the same, and never for a rootless engine; netmon's answer with the same prediction
// made on the host's /proc, and the executor asking for it when it cannot see the engine itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { engineUlimitsOf, predictEngineUlimits } from '../../src/reconcilers/engine-ulimits.js';
import { Executor } from '../../src/reconcilers/executor.js';
import { WANTED_ULIMITS, type Ulimits } from '../../src/reconcilers/ulimits.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';

const roots: string[] = [];
after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

const limits = (rtprio: string, memlock: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    `Max locked memory         ${memlock.padEnd(21)}${memlock.padEnd(21)}bytes     `,
    `Max realtime priority     ${rtprio.padEnd(21)}${rtprio.padEnd(21)}`,
  ].join('\n');

interface Proc {
  comm: string;
  capEff?: string;
  rtprio?: string;
  memlock?: string;
  userNs?: string;
}

function fakeProc(procs: Proc[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-proc-'));
  roots.push(root);
  fs.mkdirSync(path.join(root, 'self/ns'), { recursive: true });
  fs.symlinkSync('user:[4026531837]', path.join(root, 'self/ns/user'));
  procs.forEach((p, i) => {
    const dir = path.join(root, String(100 + i));
    fs.mkdirSync(path.join(dir, 'ns'), { recursive: true });
    fs.symlinkSync(p.userNs ?? 'user:[4026531837]', path.join(dir, 'ns/user'));
    fs.writeFileSync(path.join(dir, 'comm'), `${p.comm}\n`);
    fs.writeFileSync(path.join(dir, 'status'), `Name:\t${p.comm}\nCapEff:\t${p.capEff ?? '000001fffeffffff'}\n`);
    fs.writeFileSync(path.join(dir, 'limits'), limits(p.rtprio ?? '0', p.memlock ?? '8388608'));
  });
  return root;
}

test('engine processes without CAP_SYS_RESOURCE: their hard limits', () => {
  const root = fakeProc([{ comm: 'dockerd' }, { comm: 'containerd' }, { comm: 'containerd-shim' }, { comm: 'bash', rtprio: '99' }]);
  assert.deepEqual(predictEngineUlimits(root), { rtprio: 0, memlock: 8388608 });
});

test('engine processes with CAP_SYS_RESOURCE: the wanted limits, the same object (no clamp label)', () => {
  const root = fakeProc([{ comm: 'dockerd', capEff: '000001ffffffffff' }, { comm: 'containerd', capEff: '000001ffffffffff' }]);
  assert.equal(predictEngineUlimits(root), WANTED_ULIMITS);
});

test('no prediction: none visible, processes that disagree, or a rootless engine', () => {
  assert.equal(predictEngineUlimits(fakeProc([{ comm: 'node' }])), null);
  assert.equal(predictEngineUlimits(fakeProc([{ comm: 'dockerd' }, { comm: 'containerd', capEff: '000001ffffffffff' }])), null);
  assert.equal(predictEngineUlimits(fakeProc([{ comm: 'dockerd' }, { comm: 'containerd', memlock: '65536' }])), null);
  assert.equal(predictEngineUlimits(fakeProc([{ comm: 'dockerd', capEff: '000001ffffffffff', userNs: 'user:[4026532500]' }])), null);
  assert.equal(predictEngineUlimits(path.join(os.tmpdir(), 'no-such-proc')), null);
});

test("netmon's engine_ulimits answer: its prediction; null for a refusal, an older netmon or a malformed answer", () => {
  assert.equal(engineUlimitsOf({ id: 1, success: true, ulimits: { rtprio: 99, memlock: -1 } }), WANTED_ULIMITS);
  assert.deepEqual(engineUlimitsOf({ id: 1, success: true, ulimits: { rtprio: 0, memlock: 8388608 } }), { rtprio: 0, memlock: 8388608 });
  assert.equal(engineUlimitsOf({ id: 1, success: true, ulimits: null }), null);
  assert.equal(engineUlimitsOf({ id: 1, success: false, error: 'unknown command or bad arguments: command: unknown "engine_ulimits"' }), null);
  assert.equal(engineUlimitsOf({ id: 1, success: true }), null);
  assert.equal(engineUlimitsOf({ id: 1, success: true, ulimits: { rtprio: '0', memlock: 8388608 } }), null);
  assert.equal(engineUlimitsOf({ id: 1, success: true, ulimits: { rtprio: 0, memlock: -2 } }), null);
  assert.equal(engineUlimitsOf({ id: 1, success: true, ulimits: { rtprio: 1.5, memlock: 0 } }), null);
});

describe('the executor asks netmon only when it cannot see the engine itself', () => {
  const warned: string[] = [];
  const log = { warn: (_o: unknown, m: string) => void warned.push(m), info: () => undefined, debug: () => undefined } as unknown as Logger;
  const executor = (procRoot: string, answers: (Ulimits | null | undefined)[]) => {
    const asked = { count: 0 };
    const e = new Executor({
      docker: {} as Docker,
      store: {} as Store,
      log,
      runtimeImage: 'x',
      selfContainerId: 'self',
      setMac: null,
      procRoot,
      hostEngineUlimits: () => Promise.resolve(answers[asked.count++]),
    });
    return { e, asked };
  };

  test("netmon's clamp is used from the first create on (and said once)", async () => {
    warned.length = 0;
    const { e, asked } = executor(fakeProc([{ comm: 'node' }]), [{ rtprio: 0, memlock: 8388608 }]);
    await e.learnUlimits([]);
    assert.deepEqual([e.ulimits, e.ulimitsVerified, asked.count], [{ rtprio: 0, memlock: 8388608 }, true, 1]);
    await e.learnUlimits([]);
    assert.equal(asked.count, 1);
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /ulimits clamped .* through netmon before the first create/);
  });

  test('netmon not connected yet: asked again on the next pass; the wanted limits once it answers', async () => {
    const { e, asked } = executor(fakeProc([]), [undefined, WANTED_ULIMITS]);
    await e.learnUlimits([]);
    assert.deepEqual([e.ulimits, e.ulimitsVerified, asked.count], [WANTED_ULIMITS, false, 1]);
    await e.learnUlimits([]);
    assert.deepEqual([e.ulimits, e.ulimitsVerified, asked.count], [WANTED_ULIMITS, true, 2]);
  });

  test('netmon cannot tell: the first start teaches it (not asked again)', async () => {
    const { e, asked } = executor(fakeProc([]), [null]);
    await e.learnUlimits([]);
    await e.learnUlimits([]);
    assert.deepEqual([e.ulimits, e.ulimitsVerified, asked.count], [WANTED_ULIMITS, false, 1]);
  });

  test('the engine visible to the agent itself: netmon is not asked', async () => {
    const { e, asked } = executor(fakeProc([{ comm: 'dockerd' }, { comm: 'containerd' }]), [WANTED_ULIMITS]);
    await e.learnUlimits([]);
    assert.deepEqual([e.ulimits, e.ulimitsVerified, asked.count], [{ rtprio: 0, memlock: 8388608 }, true, 0]);
  });
});
