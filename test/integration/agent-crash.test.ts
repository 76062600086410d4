// The agent is SIGKILLed at random instants (20 times) while the test cloud drives 200+ mixed operations.
// At the end every acknowledged request is reflected, the state file is valid, and the labelled Docker
// objects are exactly what the desired state implies.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stateSchema } from '../../src/store/schema.js';
import { labelledObjects } from '../support/agent-fixture.js';
import { AgentProcess } from '../support/agent-process.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import type { Lan } from '../support/lan.js';
import { rng } from '../support/malformed.js';
import type { Engine } from '../support/private-engine.js';
import type { TestCloud } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

const NAMES = ['plc-c0', 'plc-c1', 'plc-c2', 'plc-c3', 'plc-c4', 'plc-c5'];
const OPS = ['create_new_runtime', 'delete_device', 'stop_device', 'start_device', 'restart_device'] as const;
let engine: Engine;
let lan: Lan;
let cloud: TestCloud;
let agent: AgentProcess;
let dataDir: string;
let env: Record<string, string>;

type Known = { exists: boolean | null; running: boolean | null };

let stack: CloudStack;
before(async () => {
  stack = await startCloudStack({ subnet: '198.51.100.0/26', agentId: 'agent-crash', env: { ORCH_RESYNC_INTERVAL_MS: '2000' } });
  ({ engine, lan, cloud, agent, dataDir, env } = stack);
});

after(async () => {
  await stack?.teardown({ agent });
});

test('20 SIGKILLs under 200+ mixed operations: nothing acknowledged is lost, no orphan, nothing missing', async () => {
  const random = rng(4242);
  const known = new Map<string, Known>(NAMES.map((n) => [n, { exists: false, running: null }]));
  let sent = 0;
  let acked = 0;
  let kills = 0;
  const reconnectMs: number[] = [];
  let done = false;

  const killer = (async () => {
    while (kills < 20) {
      await new Promise((r) => setTimeout(r, 300 + random() * 1200));
      await agent.stop('SIGKILL');
      kills++;
      const t0 = Date.now();
      const connects = cloud.connections.length;
      agent = new AgentProcess(env, dataDir);
      agent.start();
      await waitFor('agent back', () => cloud.connections.length > connects, 30_000, 20);
      reconnectMs.push(Date.now() - t0);
    }
  })();

  const driver = (async () => {
    while (!done && (sent < 200 || kills < 20)) {
      const socket = cloud.sockets()[0];
      if (!socket?.connected) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const i = Math.floor(random() * NAMES.length);
      const name = NAMES[i]!;
      const op = OPS[Math.floor(random() * OPS.length)]!;
      const payload =
        op === 'create_new_runtime'
          ? { correlation_id: sent, container_name: name, vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${10 + i}`, subnet: '198.51.100.0/26' }] }
          : { correlation_id: sent, device_id: name };
      sent++;
      let ack: Record<string, unknown> | null;
      try {
        ack = (await socket.timeout(3000).emitWithAck(op, payload)) as Record<string, unknown>;
      } catch {
        ack = null; // killed mid-request: its effect is unknown
      }
      const k = known.get(name)!;
      if (ack === null) {
        known.set(name, { exists: null, running: null });
        continue;
      }
      acked++;
      const ok = ack.status === 'creating' || ack.status === 'accepted' || ack.status === 'deleting';
      if (op === 'create_new_runtime') {
        if (ack.status === 'creating') known.set(name, { exists: true, running: k.exists === false ? true : k.exists === true ? k.running : null });
        else known.set(name, { exists: false, running: null }); // refused: it is being deleted
      } else if (op === 'delete_device') {
        known.set(name, { exists: false, running: null });
      } else if (ok) {
        known.set(name, { exists: true, running: op !== 'stop_device' });
      } else {
        known.set(name, { exists: false, running: null }); // not found, or being deleted
      }
    }
  })();

  await killer;
  await driver.finally(() => (done = true));
  assert.ok(sent >= 200 && kills === 20, `${sent} operations, ${kills} kills`);

  // Let it converge, then compare.
  await waitFor('converged', async () => {
    const plan = await cloud.call('get_plan', {});
    const st = stateSchema.parse(JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')));
    if ((plan.steps as unknown[]).length > 0 || !Object.values(st.runtimes).every((r) => !r.deletion && r.status.observedGeneration === r.generation)) return false;
    for (const [n, rec] of Object.entries(st.runtimes)) if ((await engine.docker.getContainer(n).inspect()).State.Running !== rec.running) return false;
    return true;
  }, 90_000, 250);
  const state = stateSchema.parse(JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')));
  for (const [name, k] of known) {
    const rec = state.runtimes[name];
    if (k.exists !== null) assert.equal(rec !== undefined, k.exists, `${name}: exists should be ${k.exists}`);
    if (rec && k.running !== null) assert.equal(rec.running, k.running, `${name}: running should be ${k.running}`);
  }
  const expected = Object.keys(state.runtimes).flatMap((n) => [`container /${n}`, `network ${n}_internal`, `volume ${n}_data`]);
  if (Object.keys(state.runtimes).length > 0) expected.push(`network macvlan_${lan.parent}_198.51.100.0_26`);
  assert.deepEqual(await labelledObjects(engine), expected.sort());
  for (const [n, rec] of Object.entries(state.runtimes)) {
    assert.equal((await engine.docker.getContainer(n).inspect()).State.Running, rec.running, `${n} running as desired`);
  }
  // SIGTERM: a clean stop within 10 s that leaves the runtimes running.
  const t0 = Date.now();
  assert.equal(await agent.stop('SIGTERM'), 0);
  assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
  for (const [n, rec] of Object.entries(state.runtimes)) {
    assert.equal((await engine.docker.getContainer(n).inspect()).State.Running, rec.running, `${n} unaffected by the agent's stop`);
  }
  assert.ok(!fs.existsSync(path.join(dataDir, 'agent.sock')) && !fs.existsSync(path.join(dataDir, 'agent.lock')), 'socket and lock released');
  reconnectMs.sort((a, b) => a - b);
  process.stdout.write(`# ${sent} operations (${acked} acknowledged), ${kills} SIGKILLs; restart → serving the cloud again: median ${reconnectMs[10]} ms, worst ${reconnectMs[19]} ms; ${[...known.values()].filter((k) => k.exists === null).length} name(s) left ambiguous by a killed request\n`);
});
