// Composition root of `run`: wires store, reconcilers and sources; starts and stops them in order.
import fs from 'node:fs';
import os from 'node:os';
import type Docker from 'dockerode';
import type { Config } from './config.js';
import { dockerFromHost } from './docker/client.js';
import type { Logger } from './log.js';
import { Controller } from './reconcilers/controller.js';
import { Executor } from './reconcilers/executor.js';
import { ControlServer } from './sources/control/server.js';
import { DockerEventsSource } from './sources/docker-events.js';
import { LABEL } from './spec/names.js';
import { DataDirLock } from './store/data-dir-lock.js';
import { Store } from './store/store.js';
import { VERSION } from './version.js';

/** The agent's own container when it runs in one (found by label, not by name). */
async function findSelfContainer(docker: Docker): Promise<string | null> {
  if (!fs.existsSync('/.dockerenv')) return null;
  try {
    const c = await docker.getContainer(os.hostname()).inspect();
    return c.Config.Labels?.[LABEL.role] === 'orchestrator-agent' ? c.Id : null;
  } catch {
    return null;
  }
}

export class Agent {
  readonly docker: Docker;
  store!: Store;
  controller!: Controller;
  private lock: DataDirLock | null = null;
  private events: DockerEventsSource | null = null;
  private control: ControlServer | null = null;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.docker = dockerFromHost(config.dockerHost);
  }

  async start(): Promise<void> {
    const { config, log } = this;
    fs.mkdirSync(config.dataDir, { recursive: true });
    this.lock = DataDirLock.acquire(config.dataDir);
    this.store = await Store.open(config.stateFile, log);
    const selfContainerId = await findSelfContainer(this.docker);
    const executor = new Executor({ docker: this.docker, store: this.store, log, runtimeImage: config.runtimeImage, selfContainerId });
    this.controller = new Controller({
      docker: this.docker,
      store: this.store,
      executor,
      log,
      runtimeImage: config.runtimeImage,
      resyncIntervalMs: config.resyncIntervalMs,
      selfContainerId,
    });
    this.control = new ControlServer(config.controlSocket, this.store, this.controller, { id: os.hostname(), version: VERSION, startedAt: Date.now() }, log);
    await this.control.start();
    this.events = new DockerEventsSource(this.docker, () => this.controller.wake(), log);
    this.controller.start();
    this.events.start();
    log.info({ dataDir: config.dataDir, dockerHost: config.dockerHost, version: VERSION, runtimes: Object.keys(this.store.state.runtimes).length }, 'agent started');
  }

  /** Stops the agent; runtimes keep running. */
  async stop(): Promise<void> {
    this.events?.stop();
    await this.controller?.stop();
    await this.control?.stop();
    this.lock?.release();
    this.log.info('agent stopped');
  }
}
