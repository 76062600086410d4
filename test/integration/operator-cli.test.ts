// The operator's commands as a person runs them: the README's demo, state / plan / health / doctor and the
// mutations against a running agent, and `logs` of a runtime container read from the engine.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { runCli } from '../support/agent-process.js';
import { LABEL } from '../../src/domain/names.js';
import { buildBusyboxImage, buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const root = path.resolve(import.meta.dirname, '../..');

test('npm run demo: a runtime Running with its MACVLAN address and MAC, reachable from the LAN, then cleaned up', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts/demo.ts')], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, /observed {2}phase Running, generation 1 \(converged\)/);
  assert.match(r.stdout, /network {3}macvlan_\S+_198\.51\.100\.0_26 {2}ip 198\.51\.100\.10 {2}mac ([0-9a-f]{2}:){5}[0-9a-f]{2}/);
  assert.match(r.stdout, /nothing to do: converged/);
  assert.match(r.stdout, /200 \{"status":"PONG"\}/);
  assert.match(r.stdout, /done: the runtime and every object it had are gone/);
});

let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: () => Promise<void>;
let env: Record<string, string>;

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  lan = createLan('203.0.113.0/26');
  let dataDir: string;
  ({ agent, stop: stopAgent, dataDir } = await startAgent(engine));
  env = { ORCH_DATA_DIR: dataDir, DOCKER_HOST: engine.dockerHost, ORCH_CLOUD_URL: 'off', ORCH_NETMON_SOCKET: path.join(dataDir, 'no-netmon.sock'), ORCH_RUNTIME_IMAGE: TEST_IMAGE };
});

after(async () => {
  await stopAgent?.();
  lan?.remove();
  await engine?.stop();
});

test('state, plan, health and doctor against a running agent', async () => {
  const r = normalizeCreateRequest({ container_name: 'plc-cli', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '203.0.113.5', subnet: '203.0.113.0/26' }] });
  assert.ok(r.ok);
  await putRuntime(agent.store, r.spec);
  await waitFor('running', () => agent.store.state.runtimes['plc-cli']?.status.phase === 'Running', 30_000);
  await agent.controller.settled();
  const list = await runCli(['state'], env);
  assert.deepEqual([list.code, list.stdout], [0, 'NAME     DESIRED  PHASE    GENERATION  IMAGE TAG  ADDRESSES\nplc-cli  running  Running  1/1         latest     203.0.113.5\n']);
  const state = await runCli(['state', 'plc-cli'], env);
  assert.equal(state.code, 0);
  assert.match(state.stdout, /^plc-cli\n {2}desired {3}running, generation 1/m);
  assert.match(state.stdout, /Running +True +Started/);
  const json = JSON.parse((await runCli(['state', '--json'], env)).stdout) as { state: { runtimes: Record<string, unknown> } };
  assert.ok(json.state.runtimes['plc-cli']);
  assert.equal((await runCli(['plan'], env)).stdout, 'nothing to do: converged\n');
  const health = await runCli(['health'], env);
  assert.deepEqual([health.code, health.stdout], [0, 'healthy\n']);
  // No netmon in this test: the agent says it is not connected, and that is a FAIL (exit 1) with a hint.
  const doc = await runCli(['doctor'], env);
  assert.equal(doc.code, 1, doc.stdout);
  assert.match(doc.stdout, /^OK +agent +running: \S+, version \S+, up \d+ s$/m);
  assert.match(doc.stdout, /^OK +docker +unix:\/\/\S+: API 1\.4\d/m);
  assert.match(doc.stdout, /^FAIL +netmon +the agent is not connected to \S+netmon\.sock \(no report since the agent started\)\n +hint: start the sidecar/m);
  assert.match(doc.stdout, /^OK +disk +\d+ MiB free of \d+ MiB/m);
  assert.match(doc.stdout, /^OK +state file +\S+state\.json: 1 runtime\(s\)$/m);
  assert.match(doc.stdout, /^OK +cloud +standalone/m);
  // ulimits: what the engine granted is on the container's label; doctor reports exactly that.
  const [c] = await engine.docker.listContainers({ filters: { label: [`${LABEL.device}=plc-cli`] } });
  const clamp = c?.Labels[LABEL.ulimits];
  assert.match(doc.stdout, clamp ? new RegExp(`^WARN +ulimits +clamped to the host's hard limits: plc-cli \\(${clamp}\\)`, 'm') : /^OK +ulimits +1 runtime container\(s\), none with clamped ulimits$/m);
  assert.match(doc.stdout, /^OK +container-logs +1 container\(s\) of the agent's, every log bounded$/m);
  assert.match(doc.stdout, new RegExp(`^OK +images +1 runtime image\\(s\\) present: ${TEST_IMAGE}:latest$`, 'm'));
  // The same runtimes under another image repository: their image is not on the engine, a WARN.
  const other = await runCli(['doctor'], { ...env, ORCH_RUNTIME_IMAGE: 'orch-test/not-pulled' });
  assert.match(other.stdout, /^WARN +images +not on the engine: orch-test\/not-pulled:latest\n +hint: .*docker pull orch-test\/not-pulled:latest/m);
  const docJson = JSON.parse((await runCli(['doctor', '--json'], env)).stdout) as { checks: { level: string; what: string }[] };
  assert.deepEqual(docJson.checks.filter((x) => x.level === 'FAIL').map((x) => x.what), ['netmon']);
  const stop = await runCli(['stop', 'plc-cli'], env);
  assert.deepEqual([stop.code, stop.stdout], [0, 'plc-cli: stop requested\n']);
  await waitFor('stopped', async () => (await runCli(['plan'], env)).stdout === 'nothing to do: converged\n' && agent.store.state.runtimes['plc-cli']?.status.phase === 'Stopped', 20_000, 200);
  const unknown = await runCli(['start', 'nope'], env);
  assert.deepEqual([unknown.code, unknown.stderr], [1, 'orchestrator-agent: runtime nope not found\n']);
});

test('doctor warns about a container of the agent\'s whose json-file log has no max-size (made before ORCH_CONTAINER_LOG)', async () => {
  await buildBusyboxImage(engine.docker, 'orch-test/busybox', 'cli-logs');
  const c = await engine.docker.createContainer({ name: 'old-unbounded', Image: 'orch-test/busybox:cli-logs', Cmd: ['/bin/true'], Labels: { [LABEL.managed]: 'true' }, HostConfig: { LogConfig: { Type: 'json-file', Config: {} } } });
  try {
    const doc = await runCli(['doctor'], env);
    assert.match(doc.stdout, /^WARN +container-logs +unbounded json-file logs: old-unbounded\n +hint: Docker cannot change a container's log settings/m);
  } finally {
    await c.remove({ force: true });
  }
});

test('logs NAME [--tail N] [-f]: the runtime container\'s stdout and stderr from the engine; exit 1 with one line for no such runtime', async (t) => {
  await buildBusyboxImage(engine.docker, 'orch-test/busybox', 'cli-logs');
  // Labelled as a runtime but not managed: the agent leaves it alone.
  const c = await engine.docker.createContainer({
    name: 'plc-logs',
    Image: 'orch-test/busybox:cli-logs',
    Cmd: ['/bin/sh', '-c', 'echo out-1; echo err-1 >&2; echo out-2; while sleep 0.2; do echo tick; done'],
    Labels: { [LABEL.role]: 'runtime' },
    HostConfig: { NetworkMode: 'none' },
  });
  t.after(() => c.remove({ force: true }));
  await c.start();
  await waitFor('the first lines logged', async () => (await c.logs({ stdout: true, stderr: true, follow: false })).includes('tick'), 20_000);

  const all = await runCli(['logs', 'plc-logs'], env);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^out-1\nout-2\n(tick\n)+$/);
  assert.equal(all.stderr, 'err-1\n');
  const tail = await runCli(['logs', 'plc-logs', '--tail', '1'], env);
  assert.deepEqual([tail.code, tail.stdout, tail.stderr], [0, 'tick\n', '']);

  // -f: new lines as they come, and the command ends (exit 0) when the container stops.
  const follow = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'logs', 'plc-logs', '-f', '--tail', '0'], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } });
  let followed = '';
  follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const exited = new Promise<number | null>((resolve) => follow.on('exit', resolve));
  await waitFor('a followed line', () => followed.includes('tick\n'), 20_000);
  await c.stop({ t: 1 });
  assert.equal(await exited, 0);

  const none = await runCli(['logs', 'nope'], env);
  assert.deepEqual([none.code, none.stdout, none.stderr], [1, '', 'orchestrator-agent: no runtime container nope\n']);
});

test('support-bundle against a running agent: every part in the tar.gz, planted secrets redacted', async (t) => {
  await buildBusyboxImage(engine.docker, 'orch-test/busybox', 'cli-logs');
  const secret = 'planted-s3cret-value';
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3gtMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
  // A labelled object with a secret in its env, and a netmon (by its role label) that logs a JWT.
  const held = await engine.docker.createContainer({ name: 'bundle-secret', Image: 'orch-test/busybox:cli-logs', Cmd: ['/bin/true'], Env: [`ORCH_TEST_SECRET=${secret}`], Labels: { [LABEL.managed]: 'true' }, HostConfig: { NetworkMode: 'none' } });
  t.after(() => held.remove({ force: true }));
  const nm = await engine.docker.createContainer({ name: 'bundle-netmon', Image: 'orch-test/busybox:cli-logs', Cmd: ['/bin/sh', '-c', `echo netmon-started; echo token ${jwt}`], Labels: { [LABEL.role]: 'netmon' }, HostConfig: { NetworkMode: 'none' } });
  t.after(() => nm.remove({ force: true }));
  await nm.start();
  await waitFor('netmon logged', async () => (await nm.logs({ stdout: true, stderr: true, follow: false })).includes('token'), 20_000);
  const dataDir = env.ORCH_DATA_DIR!;
  fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'logs', 'agent.7.log'), `{"level":30,"msg":"planted"}\n-----BEGIN RSA PRIVATE KEY-----\nMIIEplantedKEYmaterial\n-----END RSA PRIVATE KEY-----\n`);

  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-bundle-it-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const r = await runCli(['support-bundle', '-o', path.join(out, 'sb.tar.gz')], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${path.join(out, 'sb.tar.gz')}\n`);
  execFileSync('tar', ['-xzf', path.join(out, 'sb.tar.gz'), '-C', out]);
  const b = path.join(out, 'sb');
  const files = execFileSync('find', ['.', '-type', 'f'], { cwd: b, encoding: 'utf8' }).trim().split('\n').sort();
  for (const f of ['./versions.json', './doctor.json', './state.json', './plan.json', './netmon-facts.json', './logs/agent.7.log', './netmon-logs/bundle-netmon.log', './docker/containers.json', './docker/networks.json', './docker/volumes.json']) assert.ok(files.includes(f), `${f} not in ${files.join(' ')}`);
  const read = (f: string) => fs.readFileSync(path.join(b, f), 'utf8');
  assert.ok((JSON.parse(read('state.json')) as { runtimes: Record<string, unknown> }).runtimes['plc-cli']);
  assert.ok((JSON.parse(read('doctor.json')) as { checks: { id: string }[] }).checks.some((c) => c.id === 'agent'));
  assert.match(read('versions.json'), /"apiVersion": "1\.\d+"/);
  const containers = read('docker/containers.json');
  assert.match(containers, /"ORCH_TEST_SECRET=\[Redacted\]"/);
  assert.match(containers, /"\/plc-cli"/);
  assert.match(read('docker/networks.json'), /macvlan_|internal/);
  assert.match(read('netmon-logs/bundle-netmon.log'), /^netmon-started\ntoken \[Redacted\]\n$/);
  assert.match(read('logs/agent.7.log'), /"msg":"planted"/);
  const all = files.map(read).join('\n');
  for (const leak of [secret, 'MIIEplanted', jwt]) assert.ok(!all.includes(leak), `${leak} leaked`);
});
