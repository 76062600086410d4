// Runtime ulimits for an agent that cannot see the engine's processes (the installed way: the agent in its
// container, without the host's pid namespace), on a real engine: the agent reads an empty /proc of its own
// and asks netmon (host pid namespace: it sees the private dockerd and containerd) before the first create.
// Learned without any create (the agent would otherwise run its first create alone and learn from its
// start); then one create and one start, with what the host allows (test/support/host-ulimits.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { hostOutcome } from '../support/host-ulimits.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonProcess } from '../support/netmon-process.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let netmon: NetmonProcess;
let dataDir: string;
let blindProc: string;
const SUBNET = '198.51.100.192/26';

describe("ulimits learned through netmon by an agent that cannot see the engine's processes", () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    blindProc = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-blind-proc-')); // no process in it at all
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-data-'));
    netmon = new NetmonProcess(path.join(dataDir, 'netmon.sock'), 200);
    await netmon.start();
    ({ agent, stop: stopAgent } = await startAgent(engine, {}, dataDir, blindProc));
  });

  after(async () => {
    await stopAgent?.();
    await netmon?.stop();
    lan?.remove();
    await engine?.stop();
    for (const d of [dataDir, blindProc]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('known before any create; the first create starts (no failed start, no re-create)', async () => {
    const host = hostOutcome();
    await waitFor('ulimits learned through netmon', () => agent.executor.ulimitsVerified, 20_000);
    assert.deepEqual({ ...agent.executor.ulimits }, host.expected, host.why);
    assert.deepEqual(await engine.docker.listContainers({ all: true }), [], 'learned without creating anything');

    const r = normalizeCreateRequest({ container_name: 'plc-blind', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', subnet: SUBNET, ip: '198.51.100.200' }] });
    if (!r.ok) throw new Error(r.error);
    const events = await engine.docker.getEvents({ filters: { type: ['container'], event: ['create', 'start'], container: ['plc-blind'] } });
    const seen: string[] = [];
    events.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) seen.push((JSON.parse(line) as { Action: string }).Action);
    });
    await putRuntime(agent.store, r.spec);
    await waitFor('plc-blind running', () => {
      const x = agent.store.state.runtimes['plc-blind'];
      return x && x.status.phase === 'Running' && x.status.observedGeneration === x.generation ? x : null;
    });
    await waitFor('start event', () => seen.includes('start'));
    (events as unknown as { destroy(): void }).destroy();
    assert.deepEqual(seen, ['create', 'start'], host.why);
    const c = await engine.docker.getContainer('plc-blind').inspect();
    const asked = Object.fromEntries(((c.HostConfig.Ulimits ?? []) as { Name: string; Soft: number; Hard: number }[]).map((u) => [u.Name, [u.Soft, u.Hard]]));
    assert.deepEqual(asked, { rtprio: [host.expected.rtprio, host.expected.rtprio], memlock: [host.expected.memlock, host.expected.memlock] }, host.why);
  });
});
