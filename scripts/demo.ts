// `npm run demo`: a self-contained tour. Starts a private Docker engine, builds the OpenPLC runtime
// stand-in, makes a veth "LAN", runs the real agent process, declares one runtime through the operator
// CLI, waits until it runs, prints `state`, and removes everything it made.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRuntimeStandIn } from '../test/support/images.js';
import { createLan, type Lan } from '../test/support/lan.js';
import { startPrivateEngine, type Engine } from '../test/support/private-engine.js';

const root = path.dirname(import.meta.dirname);
const say = (s: string) => process.stdout.write(`\n==> ${s}\n`);

if (process.getuid?.() !== 0) {
  console.error('The demo needs root (it starts a private dockerd and makes veth pairs): sudo npm run demo');
  process.exit(1);
}
// A fresh Debian 12 box: install what is missing (docker.io, busybox-static, …) as .ci/run does, saying what.
const prereq = spawnSync('bash', [path.join(path.dirname(import.meta.dirname), 'scripts/install-prerequisites.sh')], { stdio: 'inherit' });
if (prereq.status !== 0) {
  console.error('the demo needs the packages above; see scripts/install-prerequisites.sh');
  process.exit(1);
}

let engine: Engine | undefined;
let lan: Lan | undefined;
let agent: ReturnType<typeof spawn> | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-demo-'));
let env: NodeJS.ProcessEnv = {};
const cli = (...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), ...args], { env, encoding: 'utf8', cwd: root });

try {
  say('starting a private Docker engine');
  engine = await startPrivateEngine();
  say('building the OpenPLC runtime stand-in image (node + HTTPS on 8443)');
  await buildRuntimeStandIn(engine.docker, 'demo/openplc-runtime', 'latest');
  lan = createLan('198.51.100.0/26');
  say(`veth "LAN": host NIC ${lan.parent}, LAN namespace ${lan.ns} (${lan.subnet})`);

  env = { ...process.env, ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dataDir, DOCKER_HOST: engine.dockerHost, ORCH_RUNTIME_IMAGE: 'demo/openplc-runtime', ORCH_LOG_LEVEL: 'warn' };
  say('starting the agent (standalone: ORCH_CLOUD_URL=off)');
  agent = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'run'], { env, stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  for (let i = 0; i < 100 && !fs.existsSync(path.join(dataDir, 'agent.sock')); i++) await sleep(100);

  const runtime = {
    container_name: 'demo-plc',
    vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.10', subnet: '255.255.255.192', gateway: '198.51.100.1' }],
  };
  const file = path.join(dataDir, 'demo-plc.json');
  fs.writeFileSync(file, JSON.stringify(runtime, null, 2));
  say(`orchestrator-agent apply ${file}`);
  process.stdout.write(cli('apply', file));

  say('waiting until the runtime runs');
  for (let i = 0; ; i++) {
    const s = JSON.parse(cli('state', '--json')) as { state: { runtimes: Record<string, { generation: number; status: { phase: string; observedGeneration: number } }> } };
    const r = s.state.runtimes['demo-plc'];
    if (r && r.status.phase === 'Running' && r.status.observedGeneration === r.generation) break;
    if (i > 120) throw new Error('the runtime did not reach Running within 60 s');
    await sleep(500);
  }
  say('orchestrator-agent state');
  process.stdout.write(cli('state'));
  say('orchestrator-agent state demo-plc');
  process.stdout.write(cli('state', 'demo-plc'));
  say('orchestrator-agent plan');
  process.stdout.write(cli('plan'));
  say(`from the LAN namespace: GET https://198.51.100.10:8443/api/ping`);
  const js = "require('https').get({host:'198.51.100.10',port:8443,path:'/api/ping',rejectUnauthorized:false},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>console.log(r.statusCode,b))}).on('error',e=>console.log('error',e.message))";
  process.stdout.write(lan.exec([process.execPath, '-e', js]));

  say('orchestrator-agent delete demo-plc');
  process.stdout.write(cli('delete', 'demo-plc'));
  for (let i = 0; i < 80; i++) {
    const s = JSON.parse(cli('state', '--json')) as { state: { runtimes: Record<string, unknown> } };
    if (!s.state.runtimes['demo-plc']) break;
    await sleep(250);
  }
  say('done: the runtime and every object it had are gone');
} finally {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent!.once('exit', r));
  }
  lan?.remove();
  await engine?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
