// The whole end-to-end stack: private engine with the runtime stand-in, a veth LAN, a test PKI, the mTLS
// test cloud, and the agent as a real process connected to it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_IMAGE } from './agent-fixture.js';
import { AgentProcess } from './agent-process.js';
import { buildRuntimeStandIn } from './images.js';
import { createLan, type Lan } from './lan.js';
import { startPrivateEngine, type Engine } from './private-engine.js';
import { agentMtlsDir, makePki, TestCloud, type Pki } from './test-cloud.js';

export interface CloudStack {
  engine: Engine;
  lan: Lan;
  pki: Pki;
  cloud: TestCloud;
  agent: AgentProcess;
  dataDir: string;
  env: Record<string, string>;
  /** Stops and removes everything; pass the agent and cloud in use now if a test replaced them. */
  teardown(current?: { agent?: AgentProcess; cloud?: TestCloud }): Promise<void>;
}

/** `env` may depend on the PKI (an enrollment stub signed by it); `lifetimeS`: a short-lived agent certificate. */
export async function startCloudStack(o: { subnet: string; agentId: string; env?: Record<string, string> | ((pki: Pki) => Promise<Record<string, string>>); lifetimeS?: number }): Promise<CloudStack> {
  const engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  const lan = createLan(o.subnet);
  const pki = makePki();
  const cloud = new TestCloud(pki);
  await cloud.start();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-stack-'));
  const extra = typeof o.env === 'function' ? await o.env(pki) : o.env;
  const env = { ORCH_CLOUD_URL: cloud.url, ORCH_MTLS_DIR: agentMtlsDir(pki, o.agentId, 'ca', o.lifetimeS), DOCKER_HOST: engine.dockerHost, ORCH_RUNTIME_IMAGE: TEST_IMAGE, ORCH_LOG_LEVEL: 'warn', ...extra };
  const agent = new AgentProcess(env, dataDir);
  agent.start();
  await agent.ready();
  await cloud.waitForAgent();
  return {
    engine,
    lan,
    pki,
    cloud,
    agent,
    dataDir,
    env,
    async teardown(current = {}) {
      const a = current.agent ?? agent;
      await a.stop();
      if (process.env.ORCH_TEST_SHOW_LOGS) process.stderr.write(a.log().slice(-5000));
      await (current.cloud ?? cloud).stop();
      lan.remove();
      await engine.stop();
      pki.remove();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
