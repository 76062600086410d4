// Runtime memory and pids limits (issue #22) on a real engine: none unless ORCH_RUNTIME_MEMORY_LIMIT /
// ORCH_RUNTIME_PIDS_LIMIT is set; set, a new container is made with them and an existing one gets them
// through `docker update` (same container, not restarted).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import type { Agent } from '../../src/agent.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.160/27';
const MEMORY = 96 * 2 ** 20;
const PIDS = 128;
let engine: Engine;
let lan: Lan;
let dataDir: string;
let stopAgent: (() => Promise<void>) | null = null;

async function declare(agent: Agent, name: string, ip: string): Promise<void> {
  const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', subnet: SUBNET, ip }] });
  if (!r.ok) throw new Error(r.error);
  await putRuntime(agent.store, r.spec);
  await waitFor(`${name} running`, () => {
    const x = agent.store.state.runtimes[name];
    return x && x.status.phase === 'Running' && x.status.observedGeneration === x.generation ? x : null;
  }, 60_000);
}

const limitsOf = async (name: string) => {
  const c = await engine.docker.getContainer(name).inspect();
  return { id: c.Id, startedAt: c.State.StartedAt, running: c.State.Running, memory: c.HostConfig.Memory ?? 0, pids: c.HostConfig.PidsLimit ?? 0 };
};

describe('runtime memory and pids limits', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-limits-'));
  });

  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('unset: a runtime gets no limit (as before)', async () => {
    const a = await startAgent(engine, {}, dataDir);
    stopAgent = a.stop;
    await declare(a.agent, 'plc-old', '203.0.113.170');
    const l = await limitsOf('plc-old');
    assert.equal(l.memory, 0);
    assert.ok(l.pids === 0 || l.pids === -1, `no pids limit: ${l.pids}`);
    await a.stop();
    stopAgent = null;
  });

  test('set: the existing container is updated without a restart; a new one is made with the limits', async () => {
    const before = await limitsOf('plc-old');
    const a = await startAgent(engine, { ORCH_RUNTIME_MEMORY_LIMIT: '96m', ORCH_RUNTIME_PIDS_LIMIT: String(PIDS) }, dataDir);
    stopAgent = a.stop;
    const updated = await waitFor('plc-old updated', async () => {
      const l = await limitsOf('plc-old');
      return l.memory === MEMORY && l.pids === PIDS ? l : null;
    }, 30_000);
    assert.deepEqual([updated.id, updated.startedAt, updated.running], [before.id, before.startedAt, true], 'the same container, not restarted');
    const swap = (await engine.docker.getContainer('plc-old').inspect()).HostConfig.MemorySwap;
    assert.ok(swap === MEMORY || swap === 0, `no swap beyond the memory limit (or none on a kernel without swap accounting): ${swap}`);
    await declare(a.agent, 'plc-new', '203.0.113.171');
    const fresh = await limitsOf('plc-new');
    assert.deepEqual([fresh.memory, fresh.pids], [MEMORY, PIDS]);
    // Converged: nothing more is planned for either (the update is remembered).
    await waitFor('empty plan', async () => ((await a.agent.controller.dryRun()).length === 0 ? true : null), 20_000);
  });
});
