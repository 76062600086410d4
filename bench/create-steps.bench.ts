// Benchmark: where the time of one create goes, from the desired-state write (what the cloud's create
// handler does before its ack) to the status saying Running, step by step: the desired write (fsync), the
// wake-up, each reconcile pass, each executor step and every Docker call in it (inspections, create,
// connects, start), Docker's start event, the status write that says Running. Against the floor: a plain
// `docker run` with the same MACVLAN network and address (the CLI against the same private engine).
// Medians of RUNS runs; each row: median offset from the emit and median duration.
// Run as root: flock /tmp/orch-docker-tests.lock node --import tsx bench/create-steps.bench.ts [RUNS]
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { normalizeCreateRequest, type RuntimeSpec } from '../src/domain/runtime-spec.js';
import { apiVersion } from '../src/docker/client.js';
import { operationOf } from '../src/metrics/docker-calls.js';
import { markForDeletion, putRuntime } from '../src/store/desired-state.js';
import { startAgent } from '../test/support/agent-fixture.js';
import { buildBusyboxImage } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';
import { watchCreate } from './create-watch.js';

const RUNS = Number(process.argv[2] ?? 7);
const engine = await startPrivateEngine();
const lan = createLan('198.51.100.0/25');
const IMAGE = 'bench/runtime';
const SUBNET = '198.51.100.0/25';
const IP = '198.51.100.2';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const specOf = (name: string): RuntimeSpec => {
  const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: IP, subnet: SUBNET }] });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};

/** One run's timeline: label → [start, end] in ms from the emit. */
type Timeline = Map<string, [number, number]>;

try {
  await buildBusyboxImage(engine.docker, IMAGE, 'latest', ['/bin/sleep', '100000']);
  const api = await apiVersion(engine.docker);
  const mv = `macvlan_${lan.parent}_198.51.100.0_25`;

  // The floor: `docker run` with the same MACVLAN network and address (network made once, as the agent's is).
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost };
  execFileSync('docker', ['network', 'create', '-d', 'macvlan', '-o', `parent=${lan.parent}`, '--subnet', SUBNET, mv], { env });
  const floor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    execFileSync('docker', ['run', '-d', '--name', `floor-${i}`, '--network', mv, '--ip', IP, `${IMAGE}:latest`], { env });
    floor.push(performance.now() - t0);
    execFileSync('docker', ['rm', '-f', `floor-${i}`], { env });
  }
  execFileSync('docker', ['network', 'rm', mv], { env });

  const { agent, stop } = await startAgent(engine, { ORCH_RUNTIME_IMAGE: IMAGE, ORCH_LOG_LEVEL: 'error', ORCH_RESYNC_INTERVAL_MS: '30000' });
  let t0 = 0;
  let tl: Timeline = new Map();
  const counts = new Map<string, number>();
  const mark = (label: string, start: number, end = performance.now()) => {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    tl.set(n === 1 ? label : `${label} #${n}`, [start - t0, end - t0]);
  };
  const step = new AsyncLocalStorage<string>();
  // Every Docker request of the agent, named by the step it belongs to (or the pass's observation).
  const modem = agent.docker.modem as unknown as { dial: (o: { method?: string; path?: string }, cb?: (...a: unknown[]) => void) => unknown };
  const dial = modem.dial.bind(modem);
  modem.dial = (o, cb) => {
    const s = performance.now();
    const label = `  ${step.getStore() ?? 'pass'}: ${operationOf(o.method ?? 'GET', o.path ?? '')}`;
    if (!cb) return dial(o, cb);
    return dial(o, (...a: unknown[]) => (mark(label, s), cb(...a)));
  };
  const controller = agent.controller as unknown as { pass: () => Promise<void>; d: { executor: { run: (s: { action: string }) => Promise<unknown> } } };
  const pass = controller.pass.bind(controller);
  controller.pass = async () => {
    const s = performance.now();
    await pass();
    mark('reconcile pass (observe, plan, status write, dispatch)', s);
  };
  const executor = controller.d.executor;
  const run = executor.run.bind(executor);
  executor.run = async (x) => {
    const s = performance.now();
    try {
      return await step.run(x.action, () => run(x)); // its outcome (a create that also started) goes to the controller
    } finally {
      mark(`step ${x.action}`, s);
    }
  };

  const runs: Timeline[] = [];
  const total: number[] = [];
  // Warm-up: the MACVLAN network and the image check are paid once per box.
  for (let i = -1; i < RUNS; i++) {
    const name = i < 0 ? 'warm' : `agent-${i}`;
    tl = new Map();
    counts.clear();
    const w = await watchCreate(agent.store, engine.docker, name);
    t0 = performance.now();
    await putRuntime(agent.store, specOf(name));
    mark('desired write (store update + fsync; the cloud acks after it)', t0);
    await waitFor(`${name} running`, () => w.runningAt > 0 && w.startedAt > 0, 60_000, 1);
    const { runningAt, startedAt } = w;
    tl.set("Docker's start event", [startedAt - t0, startedAt - t0]);
    tl.set('status says Running', [runningAt - t0, runningAt - t0]);
    w.stop();
    if (i >= 0) {
      runs.push(tl);
      total.push(runningAt - t0);
    }
    tl = new Map(); // the deletion is not measured
    await markForDeletion(agent.store, name);
    await waitFor(`${name} gone`, () => !agent.store.state.runtimes[name], 60_000, 20);
  }
  await stop();

  console.log(`create-steps, ${RUNS} runs, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, engine API ${api.join('.')}`);
  console.log('| step | median start (ms from emit) | median duration (ms) | in runs |');
  console.log('|---|---|---|---|');
  const labels = [...new Set(runs.flatMap((r) => [...r.keys()]))];
  const rows = labels.map((l) => {
    const xs = runs.map((r) => r.get(l)).filter((x): x is [number, number] => x !== undefined);
    return { l, start: median(xs.map((x) => x[0])), dur: median(xs.map((x) => x[1] - x[0])), n: xs.length };
  });
  for (const r of rows.sort((a, b) => a.start - b.start)) console.log(`| ${r.l} | ${r.start.toFixed(1)} | ${r.dur.toFixed(1)} | ${r.n}/${RUNS} |`);
  console.log(`\nfloor \`docker run -d --network <macvlan> --ip ${IP}\`: median ${median(floor).toFixed(0)} ms (worst ${Math.max(...floor).toFixed(0)})`);
  console.log(`agent emit → status Running: median ${median(total).toFixed(0)} ms (worst ${Math.max(...total).toFixed(0)}), ${((median(total) / median(floor) - 1) * 100).toFixed(0)} % above the floor`);
} finally {
  lan.remove();
  await engine.stop();
}
