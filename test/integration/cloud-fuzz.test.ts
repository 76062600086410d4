// Every topic, at least 200 malformed payloads each: every one gets an error ack; afterwards the state
// file is byte-identical and Docker has no new object.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import type { Lan } from '../support/lan.js';
import { malformed, rng, topicSpecs } from '../support/malformed.js';
import type { Engine } from '../support/private-engine.js';
import type { TestCloud } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let cloud: TestCloud;
let dataDir: string;

async function everything(): Promise<string> {
  const [c, n, v] = await Promise.all([engine.docker.listContainers({ all: true }), engine.docker.listNetworks(), engine.docker.listVolumes()]);
  return JSON.stringify([c.map((x) => [x.Id, x.State]).sort(), n.map((x) => x.Id).sort(), (v.Volumes ?? []).map((x) => x.Name).sort()]);
}

/**
 * Waits for `n` reconcile passes to complete after now (get_agent_state's last_pass_at): the first may
 * have begun earlier, so with n = 2 a whole pass has both begun and ended since the call.
 */
async function passes(n: number): Promise<void> {
  let since = Date.now(); // the agent runs on this machine: one clock
  for (let i = 1; i <= n; i++) {
    since = await waitFor(`reconcile pass ${i} of ${n} after ${new Date(since).toISOString()}`, async () => {
      const at = Date.parse(String(((await cloud.call('get_agent_state', {})).agent as { last_pass_at: string | null }).last_pass_at));
      return at > since ? at : null;
    }, 20_000, 100);
  }
}

let stack: CloudStack;
before(async () => {
  // Passes every second, so that "a whole pass went by" is a short wait.
  stack = await startCloudStack({ subnet: '203.0.113.0/26', agentId: 'agent-fuzz', env: { ORCH_RESYNC_INTERVAL_MS: '1000' } });
  ({ engine, lan, cloud, dataDir } = stack);
  const ack = await cloud.call('create_new_runtime', { container_name: 'plc-fuzz', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.30', subnet: '203.0.113.0/26' }] });
  assert.equal(ack.status, 'creating');
  await waitFor('plc-fuzz converged', async () => ((await cloud.call('get_plan', {})).steps as unknown[]).length === 0 && (await cloud.call('get_device_status', { device_id: 'plc-fuzz' })).status === 'success', 40_000, 250);
});

after(async () => {
  await stack?.teardown();
});

test('200+ malformed payloads per topic: each an error ack, nothing written, nothing created', async () => {
  // Converged, and a whole pass since: the statuses of that state are on disk.
  await passes(2);
  const file = fs.readFileSync(path.join(dataDir, 'state.json'));
  const docker = await everything();
  const random = rng(20261125);
  const socket = await cloud.waitForAgent();
  let total = 0;
  for (const [topic, spec] of Object.entries(topicSpecs(lan.parent))) {
    const payloads = malformed(spec, 200, random);
    if (topic === 'run_command') payloads.push(['plc-fuzz', { method: 'TRACE', api: '/x' }], ['../x', { method: 'GET', api: '/x' }], ['plc-fuzz', 'junk'], ['plc-fuzz', { method: 'GET', api: '//evil' }]);
    assert.ok(payloads.length >= 200);
    for (const args of payloads) {
      const ack = (await socket.timeout(10_000).emitWithAck(topic, ...args)) as Record<string, unknown>;
      const shown = JSON.stringify(args).slice(0, 200);
      assert.equal(ack.action, topic, shown);
      assert.equal(ack.status, 'error', `${topic} ${shown} → ${JSON.stringify(ack).slice(0, 300)}`);
      assert.equal(typeof ack.error, 'string');
      assert.match(ack.error as string, /^[^:]+: /, `error names the field: ${String(ack.error)}`);
      assert.ok(JSON.stringify(ack).length < 2000, `ack stays small: ${JSON.stringify(ack).length}`);
      total++;
    }
  }
  assert.ok(total >= 13 * 200);
  // The agent is alive and answers, nothing was written or created.
  assert.equal((await cloud.call('get_device_status', { device_id: 'plc-fuzz' })).status, 'success');
  // An accepted request writes the state file before its ack; a whole pass after the last ack would
  // have planned (and begun) any Docker work such a request asked for.
  await passes(2);
  assert.deepEqual((await cloud.call('get_plan', {})).steps, []);
  assert.ok(fs.readFileSync(path.join(dataDir, 'state.json')).equals(file), 'state.json is byte-identical');
  assert.equal(await everything(), docker);
  assert.equal(stack.agent.child?.exitCode, null);
});
