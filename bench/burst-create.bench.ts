// Benchmark: a burst of N creates declared at once → every runtime Running with its MACVLAN address, against
// a straight serial dockerode script doing the same work (volume, internal network, container, start) in the
// same run. Also counts the steps the executor ran per action (a step planned twice shows here).
// Run as root: node --import tsx bench/burst-create.bench.ts [N ...]   (default 1 10 50; private engine)
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { normalizeCreateRequest, type RuntimeSpec } from '../src/domain/runtime-spec.js';
import { apiVersion } from '../src/docker/client.js';
import { clampUlimits, hostHardUlimits, WANTED_ULIMITS } from '../src/reconcilers/ulimits.js';
import { putRuntime } from '../src/store/desired-state.js';
import { startAgent } from '../test/support/agent-fixture.js';
import { plainCreate } from './plain-create.js';
import { buildBusyboxImage } from '../test/support/images.js';
import { createLan } from '../test/support/lan.js';
import { startPrivateEngine } from '../test/support/private-engine.js';
import { waitFor } from '../test/support/wait.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const engine = await startPrivateEngine();
const lan = createLan('198.51.100.0/25');
const IMAGE = 'bench/runtime';
const rows: string[] = [];

const specOf = (prefix: string, i: number): RuntimeSpec => {
  const r = normalizeCreateRequest({ container_name: `${prefix}-${i}`, vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: `198.51.100.${i + 2}`, subnet: '198.51.100.0/25' }] });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};

async function removeAll(): Promise<void> {
  for (const c of await engine.docker.listContainers({ all: true })) await engine.docker.getContainer(c.Id).remove({ force: true });
  for (const n of await engine.docker.listNetworks()) if (!['bridge', 'host', 'none'].includes(n.Name)) await engine.docker.getNetwork(n.Id).remove();
  for (const v of (await engine.docker.listVolumes()).Volumes ?? []) await engine.docker.getVolume(v.Name).remove();
}

/** The same objects, made one after the other by a plain script (the MACVLAN network once). */
async function serialScript(n: number): Promise<number> {
  const api = await apiVersion(engine.docker);
  // The script knows this host's limits up front: it pays no failed start.
  const ulimits = clampUlimits(WANTED_ULIMITS, hostHardUlimits());
  const t0 = performance.now();
  const mv = `macvlan_${lan.parent}_198.51.100.0_25`;
  await engine.docker.createNetwork({ Name: mv, Driver: 'macvlan', Options: { parent: lan.parent }, IPAM: { Config: [{ Subnet: '198.51.100.0/25' }] } });
  for (let i = 0; i < n; i++) {
    await plainCreate(engine.docker, specOf('serial', i), `${IMAGE}:latest`, api, ulimits);
  }
  return (performance.now() - t0) / 1000;
}

try {
  await buildBusyboxImage(engine.docker, IMAGE, 'latest', ['/bin/sleep', '100000']);
  for (const n of sizes.length > 0 ? sizes : [1, 10, 50]) {
    await removeAll();
    const serialS = await serialScript(n);
    await removeAll();
    const { agent, stop } = await startAgent(engine, { ORCH_RUNTIME_IMAGE: IMAGE, ORCH_RESYNC_INTERVAL_MS: '30000', ORCH_LOG_LEVEL: 'error' });
    const executor = (agent.controller as unknown as { d: { executor: { run: (s: { action: string }) => Promise<void> } } }).d.executor;
    const run = executor.run.bind(executor);
    const steps = new Map<string, number>();
    executor.run = (s) => (steps.set(s.action, (steps.get(s.action) ?? 0) + 1), run(s));
    await agent.controller.settled();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) => putRuntime(agent.store, specOf('burst', i))));
    await waitFor(`${n} running`, () => Object.values(agent.store.state.runtimes).every((r) => r.status.phase === 'Running' && Object.values(r.status.endpoints).some((e) => e.ip !== null)), 600_000, 20);
    const burstS = (performance.now() - t0) / 1000;
    const counts = [...steps].sort().map(([a, k]) => `${a} ${k}`).join(', ');
    rows.push(`| ${n} | ${burstS.toFixed(2)} s | ${serialS.toFixed(2)} s | ${counts} |`);
    await stop();
  }
  await removeAll();
} finally {
  lan.remove();
  await engine.stop();
}
const { VERSION: version } = await import('../src/version.js');
console.log(`burst-create, agent ${version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, engine API ${(await import('node:child_process')).execFileSync('dockerd', ['--version'], { encoding: 'utf8' }).trim()}`);
console.log('| runtimes | burst: declared → all Running with address | serial dockerode script | executor steps |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
