// Surviving engine restarts, reboots and a full disk, against the private engine.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { deriveMac, normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { stateSchema } from '../../src/store/schema.js';
import { StoreWriteError } from '../../src/store/store.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '198.51.100.0/26';
const NAMES = ['plc-r1', 'plc-r2', 'plc-r3'];
let engine: Engine;
let lan: Lan;
let dataDir: string;
let agent: Agent;
let stopAgent: () => Promise<void>;

const spec = (name: string, i: number) => {
  const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${10 + i}`, subnet: SUBNET }] });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
const allRunning = async () => {
  for (const n of NAMES) {
    const c = await engine.docker.getContainer(n).inspect();
    if (!c.State.Running || agent.store.state.runtimes[n]?.status.phase !== 'Running') return false;
  }
  return true;
};
const endpoints = async () =>
  Promise.all(NAMES.map(async (n) => {
    const ep = (await engine.docker.getContainer(n).inspect()).NetworkSettings.Networks[`macvlan_${lan.parent}_198.51.100.0_26`]!;
    return [n, ep.IPAddress, ep.MacAddress];
  }));

describe('reliability', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-rel-'));
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_HEARTBEAT_INTERVAL_MS: '500' }, dataDir));
    for (const [i, n] of NAMES.entries()) await putRuntime(agent.store, spec(n, i));
    await waitFor('all running', allRunning, 40_000, 200);
  });
  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('engine restart: the agent retries without crashing, re-subscribes to events and brings every runtime back', async () => {
    const before = await endpoints();
    await engine.halt();
    await waitFor('agent notices', () => agent.controller.lastObserveError !== null, 15_000);
    await engine.resume();
    const t0 = Date.now();
    await waitFor('all running again', allRunning, 60_000, 200);
    const took = Date.now() - t0;
    assert.deepEqual(await endpoints(), before, 'same addresses and MACs');
    // Events work again: with the resync timer at 1 h, only an event can make the agent notice this.
    await engine.docker.getContainer('plc-r1').remove({ force: true });
    await waitFor('plc-r1 re-created through events', async () => (await engine.docker.getContainer('plc-r1').inspect()).State.Running, 20_000, 200);
    process.stdout.write(`# engine restart: all runtimes running ${took} ms after the engine answered again\n`);
  });

  test('reboot: engine and agent stopped, engine started (runtimes stay stopped), agent started → all back as they were', async () => {
    await waitFor('all running', allRunning, 30_000, 200);
    const before = await endpoints();
    const exec = await engine.docker.getContainer('plc-r2').exec({ Cmd: ['/bin/sh', '-c', 'echo survived > /var/run/runtime/marker'] });
    await exec.start({});
    await new Promise((r) => setTimeout(r, 1200)); // a couple of usage samples
    await stopAgent();
    const history = fs.readFileSync(path.join(dataDir, 'usage-history.ndjson'), 'utf8');
    assert.match(history, /"agent":\[\[/);
    await engine.halt();
    await engine.resume();
    for (const n of NAMES) assert.equal((await engine.docker.getContainer(n).inspect()).State.Running, false, 'restart policy no: the engine starts nothing');
    const t0 = Date.now();
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_RESYNC_INTERVAL_MS: '3600000', ORCH_HEARTBEAT_INTERVAL_MS: '500' }, dataDir));
    await waitFor('all running after the reboot', allRunning, 30_000, 100);
    const took = Date.now() - t0;
    assert.deepEqual(await endpoints(), before);
    for (const [n, , mac] of before) assert.equal(mac, deriveMac(n!, 'eth0'));
    const cat = await engine.docker.getContainer('plc-r2').exec({ Cmd: ['/bin/cat', '/var/run/runtime/marker'], AttachStdout: true });
    const out = await new Promise<string>((resolve) => {
      let b = '';
      void cat.start({}).then((s) => {
        s.on('data', (d: Buffer) => (b += d.toString()));
        s.on('end', () => resolve(b));
      });
    });
    assert.match(out, /survived/);
    assert.ok(agent.telemetry.history.query('agent', 0, Date.now() / 1000).length >= 2, 'usage history kept across the restart');
    process.stdout.write(`# reboot: all runtimes running ${took} ms after the agent started\n`);
  });

  test('a full disk or a read-only data dir: the write is refused with a clear error, nothing acknowledged is lost, and it recovers', async (t) => {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    t.after(() => {
      spawnSync('umount', ['-l', mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    });
    const small = await startAgent(engine, { ORCH_RESYNC_INTERVAL_MS: '3600000', DOCKER_HOST: 'unix:///nonexistent.sock' }, mnt);
    try {
      await putRuntime(small.agent.store, spec('plc-disk-a', 20));
      const before = fs.readFileSync(path.join(mnt, 'state.json'), 'utf8');
      const filler = path.join(mnt, 'filler');
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
      await assert.rejects(putRuntime(small.agent.store, spec('plc-disk-b', 21)), (e: Error) => e instanceof StoreWriteError && /state file not written: .*ENOSPC/.test(e.message));
      assert.equal(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8'), before, 'the acknowledged state is intact');
      assert.equal(small.agent.store.state.runtimes['plc-disk-b'], undefined, 'memory matches the file');
      fs.rmSync(filler);
      assert.equal(await putRuntime(small.agent.store, spec('plc-disk-b', 21)), 'created');
      assert.ok(stateSchema.parse(JSON.parse(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8'))).runtimes['plc-disk-b']);
      // A read-only data dir (a remount after a filesystem error): refused the same way, then recovered.
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      const ro = fs.readFileSync(path.join(mnt, 'state.json'), 'utf8');
      await assert.rejects(putRuntime(small.agent.store, spec('plc-disk-c', 22)), (e: Error) => e instanceof StoreWriteError && /EROFS/.test(e.message));
      assert.equal(small.agent.store.state.runtimes['plc-disk-c'], undefined);
      assert.equal(fs.readFileSync(path.join(mnt, 'state.json'), 'utf8'), ro);
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
      assert.equal(await putRuntime(small.agent.store, spec('plc-disk-c', 22)), 'created');
    } finally {
      await small.stop();
    }
  });
});
