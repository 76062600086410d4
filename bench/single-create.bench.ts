// Benchmark: one create, declared → Running, against the floor (the same objects made by a plain serial
// dockerode script), and how long after Docker reports the start the status says Running (the status
// write is what wakes the runtime_status push, CONTRACT §3). 10 runs each, medians.
// Run as root: node --import tsx bench/single-create.bench.ts
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { internalNetworkName } from '../src/domain/names.js';
import { normalizeCreateRequest, type RuntimeSpec } from '../src/domain/runtime-spec.js';
import { apiVersion } from '../src/docker/client.js';
import { clampUlimits, hostHardUlimits, WANTED_ULIMITS } from '../src/reconcilers/ulimits.js';
import { markForDeletion, putRuntime } from '../src/store/desired-state.js';
import { startAgent } from '../test/support/agent-fixture.js';
import { buildBusyboxImage } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';
import { watchCreate } from './create-watch.js';
import { plainCreate } from './plain-create.js';

const RUNS = 10;
const engine = await startPrivateEngine();
const lan = createLan('198.51.100.0/25');
const IMAGE = 'bench/runtime';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const specOf = (name: string): RuntimeSpec => {
  const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.2', subnet: '198.51.100.0/25' }] });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};

try {
  await buildBusyboxImage(engine.docker, IMAGE, 'latest', ['/bin/sleep', '100000']);
  const mv = `macvlan_${lan.parent}_198.51.100.0_25`;
  const api = await apiVersion(engine.docker);
  const ulimits = clampUlimits(WANTED_ULIMITS, hostHardUlimits());

  // The floor: volume, internal network, container (+ connects), start — the MACVLAN network already there.
  const floor: number[] = [];
  await engine.docker.createNetwork({ Name: mv, Driver: 'macvlan', Options: { parent: lan.parent }, IPAM: { Config: [{ Subnet: '198.51.100.0/25' }] } });
  for (let i = 0; i < RUNS; i++) {
    const spec = specOf(`floor-${i}`);
    const t0 = performance.now();
    const c = await plainCreate(engine.docker, spec, `${IMAGE}:latest`, api, ulimits);
    floor.push(performance.now() - t0);
    await c.remove({ force: true });
    await engine.docker.getNetwork(internalNetworkName(spec.name)).remove();
    await engine.docker.getVolume(`${spec.name}_data`).remove();
  }
  await engine.docker.getNetwork(mv).remove();

  // The agent: declared → Running; and Docker's start event → status Running.
  const { agent, stop } = await startAgent(engine, { ORCH_RUNTIME_IMAGE: IMAGE, ORCH_LOG_LEVEL: 'error' });
  const created: number[] = [];
  const afterDocker: number[] = [];
  // Warm-up: the MACVLAN network, the image check and the ulimit lesson are paid once per box.
  await putRuntime(agent.store, specOf('warm'));
  await waitFor('warm running', () => agent.store.state.runtimes.warm?.status.phase === 'Running', 60_000, 5);
  await markForDeletion(agent.store, 'warm');
  await waitFor('warm gone', () => !agent.store.state.runtimes.warm, 60_000, 20);
  for (let i = 0; i < RUNS; i++) {
    const name = `agent-${i}`;
    const w = await watchCreate(agent.store, engine.docker, name);
    const t0 = performance.now();
    await putRuntime(agent.store, specOf(name));
    await waitFor(`${name} running`, () => w.runningAt > 0 && w.startedAt > 0, 60_000, 2);
    const { runningAt, startedAt } = w;
    created.push(runningAt - t0);
    afterDocker.push(runningAt - startedAt);
    w.stop();
    await markForDeletion(agent.store, name);
    await waitFor(`${name} gone`, () => !agent.store.state.runtimes[name], 60_000, 20);
  }
  await stop();
  console.log(`single-create, ${RUNS} runs, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, engine API ${api.join('.')}`);
  console.log('| | median | worst |');
  console.log('|---|---|---|');
  console.log(`| floor: serial dockerode (volume, internal network, create, connect, start) | ${median(floor).toFixed(0)} ms | ${Math.max(...floor).toFixed(0)} ms |`);
  console.log(`| agent: declared → status Running | ${median(created).toFixed(0)} ms | ${Math.max(...created).toFixed(0)} ms |`);
  console.log(`| Docker's start event → status Running (what wakes runtime_status) | ${median(afterDocker).toFixed(0)} ms | ${Math.max(...afterDocker).toFixed(0)} ms |`);
} finally {
  lan.remove();
  await engine.stop();
}
