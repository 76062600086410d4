// An in-process agent on a private engine with a temporary data dir, for reconciler integration tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../src/agent.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { LABEL } from '../../src/domain/names.js';
import type { Engine } from './private-engine.js';

export const TEST_IMAGE = 'orch-test/openplc-runtime';

/** `dataDir` given: the agent uses it and leaves it in place (a restart on the same data). `procRoot`: where it reads the engine's processes. */
export async function startAgent(engine: Engine, env: Record<string, string> = {}, given?: string, procRoot?: string): Promise<{ agent: Agent; dataDir: string; stop: () => Promise<void> }> {
  const dataDir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'orch-data-'));
  const config = loadConfig({
    ORCH_CLOUD_URL: 'off',
    ORCH_DATA_DIR: dataDir,
    DOCKER_HOST: engine.dockerHost,
    ORCH_RUNTIME_IMAGE: TEST_IMAGE,
    ORCH_RESYNC_INTERVAL_MS: '1000',
    ORCH_LOG_LEVEL: process.env.ORCH_TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const agent = new Agent(config, createLogger(config.logLevel), procRoot);
  await agent.start();
  return {
    agent,
    dataDir,
    stop: async () => {
      await agent.stop();
      if (!given) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every object on the engine that carries the agent's labels (optionally: of one runtime). */
export async function labelledObjects(engine: Engine, device?: string): Promise<string[]> {
  const label = [device ? `${LABEL.device}=${device}` : `${LABEL.managed}=true`];
  const [c, n, v] = await Promise.all([
    engine.docker.listContainers({ all: true, filters: { label } }),
    engine.docker.listNetworks({ filters: { label } }),
    engine.docker.listVolumes({ filters: { label } }),
  ]);
  return [...c.map((x) => `container ${x.Names[0]}`), ...n.map((x) => `network ${x.Name}`), ...(v.Volumes ?? []).map((x) => `volume ${x.Name}`)].sort();
}

/** Counts every HTTP request the agent's dockerode makes from now on. */
export function countDockerCalls(agent: Agent): { readonly count: number } {
  const modem = agent.docker.modem as unknown as { dial: (...a: unknown[]) => unknown };
  const dial = modem.dial.bind(modem);
  const counter = { count: 0 };
  modem.dial = (...a: unknown[]) => {
    counter.count++;
    return dial(...a);
  };
  return counter;
}
