// The agent as it ships: its image built from the Dockerfile, run as the `orchestrator_agent` container
// with the engine's socket and the shared volume. Inside a container it joins each runtime's internal
// network by itself (found by label) and reaches the runtime there; `health` answers as HEALTHCHECK runs it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { TEST_IMAGE } from '../support/agent-fixture.js';
import { buildAgentImage } from '../support/agent-image.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

let engine: Engine;
let lan: Lan;
let agentContainer: Docker.Container;

async function execIn(c: Docker.Container, cmd: string[]): Promise<{ code: number; out: string }> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const sink = new PassThrough();
  let out = '';
  sink.on('data', (d: Buffer) => (out += d.toString()));
  engine.docker.modem.demuxStream(stream, sink, sink);
  await new Promise((r) => stream.on('end', r));
  return { code: (await e.inspect()).ExitCode ?? -1, out };
}

before(async () => {
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  await buildAgentImage(engine.docker, 'orch-test/agent:dev');
  lan = createLan('198.51.100.0/26');
  await engine.docker.createNetwork({ Name: 'agent_net', Driver: 'bridge', Internal: true });
  agentContainer = await engine.docker.createContainer({
    name: 'orchestrator_agent',
    Image: 'orch-test/agent:dev',
    Cmd: ['run'],
    Labels: { 'edge.autonomy.role': 'orchestrator-agent' },
    Env: ['ORCH_CLOUD_URL=off', `ORCH_RUNTIME_IMAGE=${TEST_IMAGE}`, 'ORCH_RESYNC_INTERVAL_MS=2000', 'ORCH_NETMON_BOOT_WAIT_MS=1000'],
    HostConfig: { NetworkMode: 'agent_net', Binds: [`${engine.socketPath}:/var/run/docker.sock`, 'orchestrator-shared:/var/orchestrator'] },
  });
  await agentContainer.start();
});

after(async () => {
  lan?.remove();
  await engine?.stop();
});

test('the image runs the agent; in its container it joins the runtime internal network and reaches the runtime', async () => {
  await waitFor('agent up', async () => (await execIn(agentContainer, ['node', 'dist/main.js', 'health'])).out.includes('healthy'), 30_000, 500);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-apply-'));
  fs.writeFileSync(path.join(dir, 'plc.json'), JSON.stringify({ container_name: 'plc-img', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/26' }] }));
  await agentContainer.putArchive(tar.pack(dir) as unknown as NodeJS.ReadableStream, { path: '/var/orchestrator' });
  fs.rmSync(dir, { recursive: true, force: true });
  const applied = await execIn(agentContainer, ['node', 'dist/main.js', 'apply', '/var/orchestrator/plc.json']);
  assert.equal(applied.code, 0, applied.out);
  await waitFor('runtime running', async () => (await engine.docker.getContainer('plc-img').inspect()).State.Running, 30_000, 250);
  const self = await waitFor('agent joined plc-img_internal', async () => {
    const c = await agentContainer.inspect();
    return 'plc-img_internal' in c.NetworkSettings.Networks ? c : null;
  }, 20_000, 250);
  assert.ok(self.NetworkSettings.Networks.agent_net);
  const ip = (await engine.docker.getContainer('plc-img').inspect()).NetworkSettings.Networks['plc-img_internal']!.IPAddress;
  const js = `require('https').get({host:'${ip}',port:8443,path:'/api/ping',rejectUnauthorized:false,timeout:5000},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>console.log(r.statusCode,b))}).on('error',e=>console.log('error',e.message))`;
  assert.equal((await execIn(agentContainer, ['node', '-e', js])).out.trim(), '200 {"status":"PONG"}');
  const state = await execIn(agentContainer, ['node', 'dist/main.js', 'state']);
  assert.match(state.out, /observed {2}phase Running/);
  const plan = await waitFor('converged', async () => ((await execIn(agentContainer, ['node', 'dist/main.js', 'plan'])).out === 'nothing to do: converged\n' ? true : null), 20_000, 500);
  assert.ok(plan);
});

test('SIGTERM stops the agent container cleanly; the runtime keeps running', async () => {
  await agentContainer.stop({ t: 10 });
  const c = await agentContainer.inspect();
  assert.equal(c.State.ExitCode, 0);
  assert.equal((await engine.docker.getContainer('plc-img').inspect()).State.Running, true);
});
