// The ulimit prediction from the engine's processes, on a fake /proc: it predicts only when every visible
// engine process tells the same, and never for a rootless engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { predictEngineUlimits } from '../../src/reconcilers/engine-ulimits.js';
import { WANTED_ULIMITS } from '../../src/reconcilers/ulimits.js';

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
