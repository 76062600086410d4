// Composition root of `run`: wires store, reconcilers and sources; starts and stops them in order.
import { monoNow } from './clock.js';
import fs from 'node:fs';
import os from 'node:os';
import type Docker from 'dockerode';
import type { Config } from './config.js';
import { dockerFromHost } from './docker/client.js';
import { findSelfContainer } from './docker/self-container.js';
import type { Logger } from './log.js';
import { Controller } from './reconcilers/controller.js';
import { Executor } from './reconcilers/executor.js';
import { engineUlimitsOf } from './reconcilers/engine-ulimits.js';
import { recoverFromContainers } from './reconcilers/recover.js';
import { CertRenewal } from './sources/cloud/cert-renewal.js';
import { CloudLink } from './sources/cloud/connection.js';
import { loadCredentials, type Credentials } from './sources/cloud/credentials.js';
import { heartbeatPayload, startHeartbeat } from './sources/cloud/heartbeat.js';
import { registerTopics } from './sources/cloud/router.js';
import { StatusPush } from './sources/cloud/status-push.js';
import type { TopicContext } from './sources/cloud/topic.js';
import { refusingTopic } from './sources/cloud/refusing-topic.js';
import { TOPICS } from './sources/cloud/topics/index.js';
import { stopWebrtc } from './sources/cloud/webrtc/registry.js';
import { ControlServer, type AgentInfo } from './sources/control/server.js';
import { nameRefusal } from './docker/runtime-owner.js';
import { DockerEventsSource } from './sources/docker-events.js';
import { DiskGuard } from './disk/disk-guard.js';
import { repoOf } from './domain/spec-hash.js';
import { imageOf } from './reconcilers/planner.js';
import { agentMetrics } from './metrics/agent-metrics.js';
import { DockerCallLatency } from './metrics/docker-calls.js';
import { listenText } from './metrics/listen.js';
import { MetricsServer } from './metrics/server.js';
import { NetmonSource } from './sources/netmon/netmon-source.js';
import { DataDirLock } from './store/data-dir-lock.js';
import { importLegacy, legacyRuntimeNames, retireLegacy } from './store/legacy-import.js';
import { Store } from './store/store.js';
import { Telemetry } from './telemetry/telemetry.js';
import { runAgentUpdate } from './update/agent-update-step.js';
import { VERSION } from './version.js';

/** No single Docker call may hang a step or a query for ever (a stop waits up to 10 s of its own). */
const DOCKER_CALL_TIMEOUT_MS = 60_000;
/** netmon reads a few files per process: a pass waits no longer than this for it (then the first start teaches the limits). */
const ENGINE_ULIMITS_TIMEOUT_MS = 2_000;

export class Agent {
  readonly docker: Docker;
  store!: Store;
  controller!: Controller;
  private lock: DataDirLock | null = null;
  private events: DockerEventsSource | null = null;
  private control: ControlServer | null = null;
  private controlRetry: NodeJS.Timeout | null = null;
  private cloud: CloudLink | null = null;
  private renewal: CertRenewal | null = null;
  private metrics: MetricsServer | null = null;
  telemetry!: Telemetry;
  netmon!: NetmonSource;
  /** Null in refusing mode (nothing in Docker may change then, image GC included). */
  disk: DiskGuard | null = null;
  private diskTimer: NodeJS.Timeout | null = null;
  /** What the cloud topics work with (also used by tests to call a topic without a cloud). */
  topics!: TopicContext;

  /** Without a call timeout: the event stream and pull progress are idle by nature. */
  private readonly dockerStreams: Docker;
  /** Docker call latency for /metrics; requests are timed only when metrics are on. */
  readonly dockerCalls = new DockerCallLatency();

  /** The executor (tests read what it learned). */
  executor!: Executor;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    /** Where the engine's processes are read (tests: an agent that cannot see them, as in its container). */
    private readonly procRoot?: string,
  ) {
    this.docker = dockerFromHost(config.dockerHost, DOCKER_CALL_TIMEOUT_MS);
    this.dockerStreams = dockerFromHost(config.dockerHost);
    if (config.metricsListen) for (const d of [this.docker, this.dockerStreams]) this.dockerCalls.instrument(d);
  }

  async start(): Promise<void> {
    const { config, log } = this;
    // A missing certificate is one clear line at start, not a crash loop.
    const credentials: Credentials | null = config.cloudUrl === null ? null : loadCredentials(config.mtlsDir, config.renewedMtlsDir);
    if (credentials?.cnError) log.error(credentials.cnError);
    fs.mkdirSync(config.dataDir, { recursive: true });
    this.lock = await DataDirLock.acquire(config.dataDir);
    if (this.lock.diskless) log.error({ dataDir: config.dataDir }, 'data dir full or read-only: lock held in memory; desired-state writes are refused until it recovers');
    this.store = await Store.open(config.stateFile, log);
    const refusing = this.store.refusal !== null;
    // The Python agent's containers adopted before a state loss carry no label: recovery finds them by the
    // names its files give (read before this start retires them). Not on a first start that imports them.
    const legacyNames = this.store.degraded ? legacyRuntimeNames(config.dataDir) : this.store.fresh ? legacyRuntimeNames(config.dataDir, 'retired') : [];
    if (!refusing) await this.legacyFiles();
    const selfContainerId = await findSelfContainer(this.docker);
    if (!refusing) await this.endForeignUninstall(selfContainerId);
    // Facts from a previous run are not current until netmon speaks again (boot sequencing).
    if (!refusing && !this.store.state.host.stale) await this.store.update('host', (s) => void (s.host.stale = true)).catch(() => undefined);
    this.netmon = new NetmonSource(config.netmonSocket, this.store, log);
    const startedAt = monoNow();
    const netmonReady = () => this.netmon.discoveredAt !== null || monoNow() - startedAt > config.netmonBootWaitMs;
    const setMac = async (pid: number, parent: string, mac: string) => {
      const a = await this.netmon.command({ command: 'set_mac', pid, parent, mac });
      if (a.success !== true) throw new Error(typeof a.error === 'string' ? a.error : 'netmon refused');
    };
    const executor = new Executor({
      docker: this.docker,
      pullDocker: this.dockerStreams,
      store: this.store,
      log,
      runtimeImage: config.runtimeImage,
      selfContainerId,
      setMac,
      netmon: (cmd) => this.netmon.command(cmd),
      serialMajors: config.serialMajors,
      containerLog: config.containerLog,
      admitPull: (image) => this.disk?.admitPull(image) ?? Promise.resolve(),
      runtimeLimits: { memory: config.runtimeMemoryLimit, pids: config.runtimePidsLimit },
      runtimePort: config.runtimePort,
      ...(this.procRoot !== undefined ? { procRoot: this.procRoot } : {}),
      hostEngineUlimits: async () => {
        if (!this.netmon.status().connected) return undefined;
        return engineUlimitsOf(await this.netmon.command({ command: 'engine_ulimits' }, ENGINE_ULIMITS_TIMEOUT_MS));
      },
      agentUpdate: () =>
        runAgentUpdate({
          docker: this.docker,
          pullDocker: this.dockerStreams,
          store: this.store,
          log,
          dataDir: config.dataDir,
          selfContainerId,
          version: VERSION,
          gateSeconds: config.updateGateSeconds,
          admitPull: (image, minBytes) => this.disk?.admitPull(image, minBytes) ?? Promise.resolve(),
          netmonSwap: {
            docker: this.docker,
            store: this.store,
            log,
            dataDir: config.dataDir,
            gateSeconds: config.updateGateSeconds,
            link: () => ({ connected: this.netmon.connected, connectedMono: this.netmon.connectedSinceMono, lastDiscoveryMono: this.netmon.lastDiscoveryMono, version: this.netmon.version }),
          },
          notReady: () =>
            this.store.refusal !== null ? 'state file refused' : this.cloud !== null && !this.cloud.status().connected ? 'not connected to the cloud' : !this.netmon.status().connected ? 'netmon not connected' : null,
        }),
    });
    this.executor = executor;
    if (!refusing) {
      this.disk = new DiskGuard({
        docker: this.docker,
        dataDir: config.dataDir,
        highWaterPercent: config.diskHighWaterPercent,
        lowWaterPercent: config.diskLowWaterPercent,
        hostStatfs: async (p) => {
          const a = await this.netmon.command({ command: 'statfs', path: p });
          return a.success === true && typeof a.total_bytes === 'number' && typeof a.avail_bytes === 'number' ? { totalBytes: a.total_bytes, availBytes: a.avail_bytes } : null;
        },
        // Every declared runtime's image stays (a stopped runtime's too: it will start again).
        keep: () => new Set(Object.values(this.store.state.runtimes).map((r) => imageOf(config.runtimeImage, r.spec.runtimeVersion))),
        ownRepos: () => new Set([repoOf(config.runtimeImage)]),
        removeImage: (id, refs) => executor.removeImage(id, refs),
        log,
      });
    }
    // A (re)started netmon runs none of the DHCP clients the agent asked the previous one for.
    this.netmon.onConnect = () => {
      if (executor.dhcpClients.size === 0) return; // nothing to restart: a reconnect costs no pass
      executor.dhcpClients.clear();
      this.controller?.wake();
    };
    this.controller = new Controller({
      docker: this.docker,
      store: this.store,
      executor,
      log,
      runtimeImage: config.runtimeImage,
      resyncIntervalMs: config.resyncIntervalMs,
      readyTimeoutMs: config.runtimeReadyTimeoutMs,
      selfContainerId,
      netmonReady,
      recover: () => recoverFromContainers(this.docker, this.store, log, legacyNames),
    });
    const agent: AgentInfo = { id: credentials?.agentId ?? os.hostname(), version: VERSION, startedAt: monoNow(), containerId: selfContainerId };
    this.control = new ControlServer(config.controlSocket, this.store, this.controller, agent, log, { resyncIntervalMs: config.resyncIntervalMs, dataDir: config.dataDir }, () => ({
      cloud: this.cloud?.status() ?? null,
      renewal: this.renewal?.status() ?? null,
      netmon: refusing ? null : this.netmon.status(),
      disk: this.disk ? { ...this.disk.condition, imagesRemoved: this.disk.imagesRemoved } : null,
    }), (name, known) => nameRefusal(this.docker, name, known));
    await this.startControl();
    this.telemetry = new Telemetry(config.dataDir, this.docker, this.store, config.heartbeatIntervalMs, log);
    // Refusing: host samples for the heartbeat only; the usage history on disk is left as it is.
    this.telemetry.start({ readOnly: refusing });
    if (!refusing) {
      // A newer agent's state file: nothing is reconciled (Docker is left exactly as it is).
      this.events = new DockerEventsSource(
        this.dockerStreams,
        (_reason, ev) => {
          if (ev) this.controller.noteContainerEvent(ev.id, ev.action);
          this.controller.wake();
        },
        log,
      );
      this.controller.start();
      this.events.start();
      this.netmon.start();
      const disk = this.disk!;
      const checkDisk = () => void disk.check().catch((e: Error) => log.warn({ err: e.message }, 'disk check failed'));
      checkDisk();
      this.diskTimer = setInterval(checkDisk, config.diskCheckIntervalMs);
      this.diskTimer.unref();
      // The end of the boot wait is a wake-up of its own.
      setTimeout(() => this.controller.wake(), config.netmonBootWaitMs + 10).unref();
    }
    this.topics = { store: this.store, controller: this.controller, docker: this.docker, config, log, agent, telemetry: this.telemetry, netmon: this.netmon, disk: this.disk };
    if (credentials && config.cloudUrl) {
      const ctx = this.topics;
      const push = new StatusPush(this.store, agent.id);
      this.cloud = new CloudLink({
        url: config.cloudUrl,
        transports: config.cloudTransports,
        credentials,
        log,
        register: (socket) => registerTopics(socket, refusing ? TOPICS.map((t) => refusingTopic(t, this.store.refusal!)) : TOPICS, ctx),
        onConnect: (socket) => {
          const stopHeartbeat = startHeartbeat(socket, config.heartbeatIntervalMs, () => heartbeatPayload(agent.id, VERSION, agent.startedAt, this.telemetry, this.store, this.disk));
          const stopPush = push.attach(socket);
          return () => {
            stopHeartbeat();
            stopPush();
          };
        },
      });
      this.cloud.start();
      if (config.enrollUrl) {
        const link = this.cloud;
        this.renewal = new CertRenewal({ enrollUrl: config.enrollUrl, dir: config.renewedMtlsDir, credentials, log, onRenewed: (c, connected) => link.replaceCredentials(c, connected) });
        this.renewal.start();
      }
    }
    if (config.metricsListen) await this.startMetrics(config.metricsListen, credentials, refusing);
    log.info({ agentId: agent.id, cloud: config.cloudUrl ?? 'off', dataDir: config.dataDir, dockerHost: config.dockerHost, version: VERSION, runtimes: Object.keys(this.store.state.runtimes).length }, 'agent started');
  }

  /**
   * The Python agent's files are imported only on a first start (no state.json, no .bak): after a state
   * loss the desired state is rebuilt from the containers, never from them (CONTRACT §8). Once the import
   * is on disk, or whenever the agent has state of its own, they are retired (legacy-import.ts).
   */
  private async legacyFiles(): Promise<void> {
    const { dataDir } = this.config;
    if (!this.store.fresh) {
      retireLegacy(dataDir, this.log, 'this agent has a state of its own');
      return;
    }
    try {
      await importLegacy(dataDir, this.store, this.log);
    } catch (e) {
      // A refused write (an invalid import): the start goes on, the files stay for the next start.
      this.log.error({ err: (e as Error).message }, 'legacy files not imported');
      return;
    }
    if (!this.store.unwritten) retireLegacy(dataDir, this.log, 'imported');
  }

  /** Opt-in (ORCH_METRICS_LISTEN); a port already taken is logged, never a reason to stop the agent. */
  private async startMetrics(listen: NonNullable<Config['metricsListen']>, credentials: Credentials | null, refusing: boolean): Promise<void> {
    this.metrics = new MetricsServer(listen, () =>
      agentMetrics({
        store: this.store,
        controller: this.controller,
        dockerCalls: this.dockerCalls,
        telemetry: this.telemetry,
        disk: this.disk,
        cloud: this.cloud,
        netmonConnected: refusing ? null : this.netmon.status().connected,
        certNotAfter: () => (this.renewal ? Date.parse(this.renewal.status().notAfter) : (credentials?.notAfter ?? null)),
      }),
    );
    try {
      await this.metrics.start();
      this.log.info({ listen: listenText(listen) }, 'metrics served on /metrics');
    } catch (e) {
      this.log.error({ listen: listenText(listen), err: (e as Error).message }, 'metrics endpoint not started (ORCH_METRICS_LISTEN)');
      this.metrics = null;
    }
  }

  /** The control socket lives in the data dir: a read-only one must not stop the agent; retried until it works. */
  private async startControl(): Promise<void> {
    try {
      await this.control!.start();
    } catch (e) {
      this.log.error({ socket: this.config.controlSocket, err: (e as Error).message }, 'control socket cannot be created: the CLI and health cannot reach the agent until it can; retrying every 30 s');
      const retry = setInterval(() => {
        void this.control?.start().then(
          () => {
            clearInterval(retry);
            this.log.info({ socket: this.config.controlSocket }, 'control socket created');
          },
          () => undefined,
        );
      }, 30_000);
      retry.unref();
      this.controlRetry = retry;
    }
  }

  /**
   * A kept `orchestrator-shared` volume may still record an uninstall that another agent container started
   * (and that ended with that container): a freshly installed agent never resumes it.
   */
  private async endForeignUninstall(self: string | null): Promise<void> {
    const u = this.store.state.agent.uninstall;
    if (!u || u.step === 'done') return;
    const foreign = u.byContainer !== undefined ? u.byContainer !== self : self !== null;
    if (!foreign) return;
    this.log.warn({ requestedAt: u.requestedAt, step: u.step, byContainer: u.byContainer ?? null }, 'an uninstall started by another agent container is not resumed');
    // Kept in memory on a full or read-only data dir: it is still never resumed.
    await this.store.update('desired', (s) => void (s.agent.uninstall = null), { keepIfUnwritten: true });
  }

  /** Stops the agent; runtimes keep running. */
  async stop(): Promise<void> {
    await stopWebrtc(this.topics); // WebRTC sessions end with the agent (CONTRACT §9.5)
    await this.metrics?.stop();
    this.renewal?.stop();
    this.cloud?.stop();
    this.netmon?.stop();
    this.events?.stop();
    if (this.diskTimer) clearInterval(this.diskTimer);
    await this.telemetry?.stop(); // first: the usage history is flushed whatever the steps in flight do
    await this.controller?.stop();
    if (this.controlRetry) clearInterval(this.controlRetry);
    await this.control?.stop();
    this.lock?.release();
    this.log.info('agent stopped');
  }
}
