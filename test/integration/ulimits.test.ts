// Runtime ulimits on a real engine (CONTRACT §7): rtprio 99 and unlimited memlock where the host allows
// them; a host that refuses to raise a hard limit gets its own hard limits, said in ContainerReady. The
// expected outcome is worked out from THIS host's own limits, so the test says something on both kinds
// of host: the hard limits in /proc/self/limits and CAP_SYS_RESOURCE in /proc/self/status. The private
// dockerd (and runc under it) is this process's child: same limits, same capabilities, as is the
// in-process agent that reads them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { hostOutcome, limitOf } from '../support/host-ulimits.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
const SUBNET = '198.51.100.128/26';

describe('runtime ulimits follow what the host allows', () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    lan = createLan(SUBNET);
    ({ agent, stop: stopAgent } = await startAgent(engine));
  });

  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
  });

  test('rtprio 99 / memlock unlimited where the host can grant them; else its hard limits and a note', async () => {
    const host = hostOutcome();
    const r = normalizeCreateRequest({ container_name: 'plc-ulimit', vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', subnet: SUBNET, ip: '198.51.100.140' }] });
    if (!r.ok) throw new Error(r.error);
    // The engine's own record of every create and start of this runtime.
    const events = await engine.docker.getEvents({ filters: { type: ['container'], event: ['create', 'start'], container: ['plc-ulimit'] } });
    const seen: string[] = [];
    events.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) seen.push((JSON.parse(line) as { Action: string }).Action);
    });
    await putRuntime(agent.store, r.spec);
    const rec = await waitFor('plc-ulimit running', () => {
      const x = agent.store.state.runtimes['plc-ulimit'];
      return x && x.status.phase === 'Running' && x.status.observedGeneration === x.generation ? x : null;
    });
    // The limits are learned from the engine's processes before the first create: one create, never a
    // failed start and a re-create (the stream is ordered: once the start is in, every create before it is).
    await waitFor('start event', () => seen.includes('start'));
    (events as unknown as { destroy(): void }).destroy();
    assert.deepEqual(seen, ['create', 'start'], host.why);

    // What the agent asked Docker for.
    const c = await engine.docker.getContainer('plc-ulimit').inspect();
    const ulimits = (c.HostConfig.Ulimits ?? []) as { Name: string; Soft: number; Hard: number }[];
    const asked = Object.fromEntries(ulimits.map((u) => [u.Name, [u.Soft, u.Hard]]));
    assert.deepEqual(asked, { rtprio: [host.expected.rtprio, host.expected.rtprio], memlock: [host.expected.memlock, host.expected.memlock] }, host.why);

    // What the container's processes actually run with (PID 1 is docker-init, limits set by runc).
    const exec = await engine.docker.getContainer('plc-ulimit').exec({ Cmd: ['/bin/cat', '/proc/1/limits'], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = (await exec.start({ Tty: true })) as NodeJS.ReadableStream;
    const inside = await new Promise<string>((resolve, reject) => {
      let b = '';
      stream.on('data', (d: Buffer) => (b += d.toString()));
      stream.on('end', () => resolve(b));
      stream.on('error', reject);
    });
    assert.deepEqual(limitOf(inside, 'Max realtime priority'), { soft: host.expected.rtprio, hard: host.expected.rtprio }, `${host.why}\n${inside}`);
    assert.deepEqual(limitOf(inside, 'Max locked memory'), { soft: host.expected.memlock, hard: host.expected.memlock }, `${host.why}\n${inside}`);

    // And what the agent says about it.
    const ready = rec.status.conditions.find((x) => x.type === 'ContainerReady');
    assert.ok(ready, JSON.stringify(rec.status.conditions));
    assert.equal(ready.status, 'True', JSON.stringify(rec.status.conditions));
    if (host.allowed) {
      assert.doesNotMatch(ready.message, /clamped/, host.why);
    } else {
      assert.match(ready.message, /ulimits clamped/, host.why);
      assert.match(ready.message, new RegExp(`rtprio ${host.expected.rtprio}\\b.*memlock ${host.expected.memlock}\\b`), host.why);
    }
  });
});
