// The controller: full passes (observe → plan → status → dispatch; the status write is not waited for) on every wake-up and every resync
// interval; steps run in a p-queue, one at a time per key, de-duplicated, with per-key backoff on failure.
import type Docker from 'dockerode';
import PQueue from 'p-queue';
import { systemClock, type Clock } from '../clock.js';
import { observe, type Observed } from '../docker/observed.js';
import { attachmentsOf } from '../domain/attachments.js';
import type { Logger } from '../log.js';
import { Histogram } from '../metrics/exposition.js';
import { agentUpdateUnderWay } from '../store/desired-state.js';
import { UNINSTALL_STAGES } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { StepError, type Executor } from './executor.js';
import { plan, type HostFacts } from './planner.js';
import { CRASH_RESET_MS, crashBackoffMs, failureBackoffMs } from './restart-policy.js';
import { passthroughStatus } from './passthrough-status.js';
import { deriveStatus, type Failure } from './status.js';
import { isActionable, type Step } from './steps.js';
import type { ReconcilerView } from './view.js';

export interface ControllerDeps {
  docker: Docker;
  store: Store;
  executor: Executor;
  log: Logger;
  runtimeImage: string;
  resyncIntervalMs: number;
  /** ORCH_RUNTIME_READY_TIMEOUT_MS: how long a new runtime version has to become ready. */
  readyTimeoutMs?: number;
  selfContainerId: string | null;
  /** Boot sequencing: true once netmon's first discovery arrived or the bounded wait is over. */
  netmonReady: () => boolean;
  /** Run once, in the first pass that can read Docker: takes runtime containers the state lacks back into it. */
  recover?: () => Promise<unknown>;
  /** Tests step the wall clock; durations and backoffs run on `mono` only. */
  clock?: Clock;
}

/** A step in flight longer than this is reported by `health` (a pull may take longer on a slow uplink). */
const STUCK_AFTER_MS = 5 * 60_000;
const PULL_STUCK_AFTER_MS = 20 * 60_000;
/** How long a stop waits for steps in flight (a container stop takes up to 10 s of its own; Docker kills at 10 s). */
const STOP_WAIT_MS = 6000;
const DEFAULT_READY_TIMEOUT_MS = 120_000;

export class Controller implements ReconcilerView {
  private readonly queue = new PQueue({ concurrency: 4 });
  /** Pulls have a lane of their own: a slow download never holds up crash restarts or other runtimes. */
  private readonly pulls = new PQueue({ concurrency: 2 });
  /** Steps being carried out now, by key (a key with a step in flight gets no other), with their start time. */
  private readonly busy = new Map<string, { step: Step; since: number }>(); // since: monotonic
  /** untilMono: the retry deadline on the monotonic clock (`until` is the wall time shown). */
  private readonly failures = new Map<string, Failure & { generation?: number; untilMono: number }>();
  /**
   * Crash backoffs in force, by runtime: the monotonic deadline. `backoffUntil` in the state file is the
   * same deadline in wall time, for people; a runtime waits only while both say so (an operator's start
   * clears the stored one), and an agent restart forgets the wait (forgive()).
   */
  private readonly crashWaits = new Map<string, number>();
  /** When the agent saw each runtime (re)started, monotonic: ten minutes up end its crash loop. */
  private readonly upSince = new Map<string, number>();
  private readonly clock: Clock;
  /**
   * Containers whose next exit was asked for (by this agent's stop/restart/re-create, or by hand: the engine
   * reports `kill`/`stop` before the `die`): such an exit is never a crash. Cleared when the container starts.
   */
  private readonly requestedExits = new Set<string>();
  /** When a `start` event of a container was last seen (monotonic): an exit observed before it is stale. */
  private readonly startEvents = new Map<string, number>();
  /**
   * Containers whose `die` event no pass has looked into yet. Docker 20.10 sends `die` before its container
   * list says exited: the pass the event wakes still lists the container running, and nothing would wake
   * another until the resync (a crash seen 58 s late in metrics.test.ts). An inspect waits for the engine's
   * exit handling (measured: the list said running, the inspect 10 ms later exited, the list then too).
   */
  private readonly diedUnseen = new Set<string>();
  /** When the last step of each key finished (monotonic): a pass that observed before that must not act on the key again. */
  private readonly doneAt = new Map<string, number>();
  private passing = false;
  private dirty = false;
  private stopped = false;
  private resyncTimer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAt = Infinity;
  /** Wall time of the last completed pass (shown; tests wait on it). */
  lastPassAt = 0;
  /** Monotonic time of the last completed pass (health: a wedged reconciler stops moving it). */
  lastPassMono = 0;
  /** Wall time of the last completed pass (observe + plan + status + dispatch). */
  lastPassMs = 0;
  lastObserveError: string | null = null;
  lastPassError: string | null = null;
  /** Metrics (src/metrics/): passes begun, passes that failed (engine away included), finished steps by action and result. */
  passesTotal = 0;
  passFailuresTotal = 0;
  readonly stepsTotal = new Map<string, { ok: number; error: number }>();
  readonly passSeconds = new Histogram([0.01, 0.05, 0.1, 0.5, 1, 5, 30]);
  /**
   * Set at start and after the engine was unreachable: containers found stopped then were stopped by a
   * reboot or an engine restart, not by a crash, so they start at once (restart policy `no`: only the
   * agent starts them) instead of waiting out a crash backoff.
   */
  private forgiveExited = true;
  private recovered = false;

  constructor(private readonly d: ControllerDeps) {
    this.clock = d.clock ?? systemClock;
  }

  start(): void {
    this.d.store.on('change', (kind) => {
      if (kind !== 'status') this.wake();
    });
    this.resyncTimer = setInterval(() => this.wake(), this.d.resyncIntervalMs);
    this.wake();
  }

  /**
   * Steps not begun are dropped; those in flight get STOP_WAIT_MS to finish (a create is not left half
   * made). A pull is not waited for: it may take minutes, and SIGTERM must end the agent (exit 0, usage
   * history flushed) within Docker's 10 s; the next start pulls again.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.queue.clear();
    this.pulls.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.queue.onIdle(), new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Runs a pass now, or right after the one in progress. */
  wake(): void {
    if (this.stopped) return;
    if (this.passing) {
      this.dirty = true;
      return;
    }
    this.passing = true;
    void (async () => {
      try {
        do {
          this.dirty = false;
          this.passesTotal++;
          try {
            await this.pass();
          } catch (e) {
            this.passFailuresTotal++;
            // No pass error ends the process (a full disk, an engine answering garbage): log, retry later.
            const msg = (e as Error).message;
            if (this.lastPassError !== msg) this.d.log.error({ err: msg }, 'reconcile pass failed; retrying');
            this.lastPassError = msg;
            this.scheduleWake(this.clock.mono() + 2000);
          }
        } while (this.dirty && !this.stopped);
      } finally {
        this.passing = false;
      }
    })();
  }

  /** A Docker event of one of the agent's containers (docker-events source): notes exits asked for by hand. */
  noteContainerEvent(id: string, action: string): void {
    // `kill` and `stop` come with a requested exit; `restart` is reported after the new `start` (it must
    // not mark the running container, or its next real crash would pass for a requested exit).
    if (action === 'kill' || action === 'stop') this.requestedExits.add(id);
    else if (action === 'die') this.diedUnseen.add(id);
    else if (action === 'start') {
      this.requestedExits.delete(id);
      this.diedUnseen.delete(id);
      const now = this.clock.mono();
      for (const [c, at] of this.startEvents) if (now - at > 60_000) this.startEvents.delete(c); // only recent ones matter
      this.startEvents.set(id, now);
      this.d.executor.forgetMacs(id); // a new namespace, whoever started it
    }
  }

  /** Steps in flight for longer than they should take (health). */
  stuckSteps(now = this.clock.mono()): string[] {
    return [...this.busy.values()]
      .filter(({ step, since }) => now - since > (step.action === 'pullImage' || step.action === 'agentUpdate' ? PULL_STUCK_AFTER_MS : STUCK_AFTER_MS))
      .map(({ step, since }) => `${step.action} ${step.key} in progress for ${Math.round((now - since) / 60_000)} min`);
  }

  /** The failure (and backoff) of a work key, if its last step failed. */
  failureOf(key: string): Failure | undefined {
    return this.failures.get(key);
  }

  /** Resolves when no pass and no step is running and nothing is left to do right now (tests, demo). */
  async settled(): Promise<void> {
    for (;;) {
      await Promise.all([this.queue.onIdle(), this.pulls.onIdle()]);
      if (!this.passing && this.busy.size === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  facts(): HostFacts {
    return {
      interfaces: this.d.store.state.host.interfaces,
      now: this.clock.wall(),
      mono: this.clock.mono(),
      crashWaits: this.crashWaits,
      runtimeImage: this.d.runtimeImage,
      selfContainerId: this.d.selfContainerId,
      selfNetworks: [],
      gcAllowed: !this.d.store.degraded,
      uninstall: this.d.store.state.agent.uninstall?.step ?? null,
      hostKnown: this.d.store.state.host.observedAt !== null && !this.d.store.state.host.stale,
      netmonReady: this.d.netmonReady(),
      nsMacs: this.d.executor.nsMacs,
      imagesPresent: this.d.executor.imagesPresent,
      dhcpRunning: (id, vnic) => this.d.executor.dhcpClients.has(`${id}/${vnic}`),
      serialDevices: this.d.store.state.host.serialDevices,
      serialNodes: this.d.executor.serialNodes,
      serialMajors: this.d.executor.serialMajors,
      liveDeviceGrants: this.d.executor.cgroupVersion !== '2',
      wifiPaths: this.d.executor.wifiPaths,
      ...(this.d.executor.limitsConfigured ? { limitsCurrent: (id: string) => this.d.executor.limitsCurrent.has(id) } : {}),
      readiness: this.d.executor.readiness(this.d.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS),
      readyTimeoutMs: this.d.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      agentUpdate: agentUpdateUnderWay(this.d.store.state),
    };
  }

  /**
   * The steps the reconciler is taking or would take now; nothing is done (CLI `plan`, `get_plan`).
   * Steps in flight come first: an empty answer means there is truly nothing left to do.
   */
  async dryRun(): Promise<Step[]> {
    const observed = await observe(this.d.docker, this.adoptedNames(), new Set(Object.keys(this.d.store.state.runtimes)));
    const planned = plan(this.d.store.state.runtimes, observed, await this.factsWithSelf());
    const inFlight = [...this.busy.values()].map(({ step: s }) => ({ ...s, reason: `in progress: ${s.reason}` }));
    return [...inFlight, ...planned.filter((s) => !this.busy.has(s.key))];
  }

  private adoptedNames(): Set<string> {
    return new Set(Object.entries(this.d.store.state.runtimes).filter(([, r]) => r.adoption !== undefined).map(([n]) => n));
  }

  private async factsWithSelf(): Promise<HostFacts> {
    await this.d.executor.learnCgroupVersion();
    const f = this.facts();
    if (this.d.selfContainerId === null) return f;
    const self = await this.d.docker.getContainer(this.d.selfContainerId).inspect();
    return { ...f, selfNetworks: Object.keys(self.NetworkSettings.Networks ?? {}) };
  }

  private async pass(): Promise<void> {
    const t0 = this.clock.mono();
    const observedAt = t0;
    let observed: Observed;
    let facts: HostFacts;
    try {
      [observed, facts] = await Promise.all([observe(this.d.docker, this.adoptedNames(), new Set(Object.keys(this.d.store.state.runtimes))), this.factsWithSelf()]);
      this.lastObserveError = null;
    } catch (e) {
      // Engine away: keep retrying (resync and events wake us), never crash or spin.
      const msg = (e as Error).message;
      if (this.lastObserveError !== msg) this.d.log.warn({ err: msg }, 'cannot observe Docker; retrying');
      this.lastObserveError = msg;
      this.forgiveExited = true;
      this.passFailuresTotal++;
      this.scheduleWake(this.clock.mono() + 2000);
      this.markPass();
      return;
    }
    await this.d.store.flush();
    if (!this.recovered && this.d.recover) {
      await this.d.recover();
      this.recovered = true;
    }
    if (this.forgiveExited) await this.forgive(observed);
    await this.lookIntoDeaths(observed);
    await this.d.executor.learnUlimits(observed.containers);
    this.resetBackoffOfNewGenerations();
    const steps = plan(this.d.store.state.runtimes, observed, facts);
    this.noteUptime(observed);
    const justCrashed = await this.accountCrashes(steps, facts.now, observedAt);
    // Queued before any step's own store write (the store applies updates in call order), but not waited
    // for: a step does not wait for the status write's fsync.
    const statusWritten = this.writeStatuses(observed, steps, facts.now);
    for (const step of steps) {
      if (step.action === 'wait' && step.condition === 'Running') this.scheduleWake(this.crashWaits.get(step.device!) ?? t0);
      if (!isActionable(step) || this.busy.has(step.key)) continue;
      const f = this.failures.get(step.key);
      if (f && f.untilMono > facts.mono) {
        this.scheduleWake(f.untilMono);
        continue;
      }
      if (step.action === 'start' && justCrashed.has(step.device!)) continue; // it waits out its backoff first (or runs again already)
      if (step.action === 'nicMove' && this.takingDown(step.device!)) continue; // the NIC was handed back for that
      if ((this.doneAt.get(step.key) ?? 0) >= observedAt) {
        // Planned from a view older than the key's last step (it would repeat it): the next pass decides.
        this.dirty = true;
        continue;
      }
      if (this.awaitsUlimitProbe(step)) continue;
      this.dispatch(step);
    }
    await statusWritten;
    this.markPass();
    this.lastPassMs = this.clock.mono() - t0;
    this.passSeconds.observe(this.lastPassMs / 1000);
  }

  private markPass(): void {
    this.lastPassAt = this.clock.wall();
    this.lastPassMono = this.clock.mono();
  }

  /** A container listed running after its `die` event: once the engine's inspect says so, another pass sees the exit. */
  private async lookIntoDeaths(observed: Observed): Promise<void> {
    const ids = [...this.diedUnseen];
    this.diedUnseen.clear();
    const listedRunning = ids.filter((id) => observed.containers.some((c) => c.id === id && c.state === 'running'));
    const exited = await Promise.all(listedRunning.map((id) => this.d.docker.getContainer(id).inspect().then((i) => !i.State.Running, () => false)));
    if (exited.includes(true)) this.dirty = true;
  }

  /** Runtimes seen running get a monotonic start (an agent that restarted counts their ten minutes anew). */
  private noteUptime(observed: Observed): void {
    const running = new Set(observed.containers.filter((c) => c.state === 'running').map((c) => c.name));
    for (const name of this.upSince.keys()) if (!running.has(name)) this.upSince.delete(name);
    for (const name of running) if (!this.upSince.has(name)) this.upSince.set(name, this.clock.mono());
  }

  /** The agent is stopping, restarting or removing this runtime's container right now. */
  private takingDown(name: string): boolean {
    const a = this.busy.get(`runtime/${name}`)?.step.action;
    return a === 'stop' || a === 'restart' || a === 'removeContainer';
  }

  /**
   * Until one runtime has started with the current ulimits (or the host's refusal taught the clamp), one
   * create or start at a time: the others would each pay a failed start and a re-create for the same lesson.
   */
  private awaitsUlimitProbe(step: Step): boolean {
    if (this.d.executor.ulimitsVerified || (step.action !== 'createContainer' && step.action !== 'start')) return false;
    return [...this.busy.values()].some(({ step: s }) => s.action === 'createContainer' || s.action === 'start');
  }

  /** A new generation is a new order: the backoff earned by the previous spec's failures does not apply. */
  private resetBackoffOfNewGenerations(): void {
    for (const [key, f] of this.failures) {
      const rec = key.startsWith('runtime/') ? this.d.store.state.runtimes[key.slice('runtime/'.length)] : undefined;
      if (rec && f.generation !== undefined && f.generation !== rec.generation) this.failures.delete(key);
    }
  }

  private async forgive(observed: Observed): Promise<void> {
    const running = new Set(observed.containers.filter((c) => c.state === 'running').map((c) => c.name));
    this.crashWaits.clear();
    await this.d.store.update('status', (s) => {
      for (const [name, rec] of Object.entries(s.runtimes)) {
        if (running.has(name)) continue;
        rec.status.lastStartedAt = null;
        rec.status.backoffUntil = null;
      }
    });
    this.forgiveExited = false;
  }

  /** A runtime that exited on its own waits 10 s·2^n before it is started again. */
  private async accountCrashes(steps: Step[], now: number, observedAt: number): Promise<Set<string>> {
    // A container started again (`docker restart` by hand) while this pass observed it: its `start` event
    // cleared the requested exit, so the exit seen is not judged here; the next pass sees it running.
    const restartedSince = (id: string) => (this.startEvents.get(id) ?? -Infinity) >= observedAt;
    const crashed = steps.filter(
      (s): s is Extract<Step, { action: 'start' }> =>
        s.action === 'start' && s.crashed && !this.requestedExits.has(s.containerId) && !restartedSince(s.containerId) && this.d.store.state.runtimes[s.device!]?.status.backoffUntil === null,
    );
    const restarted = steps.filter((s) => s.action === 'start' && s.crashed && restartedSince(s.containerId)).map((s) => s.device!);
    if (restarted.length > 0) this.dirty = true;
    if (crashed.length === 0) return new Set(restarted);
    await this.d.store.update('status', (s) => {
      for (const step of crashed) {
        const st = s.runtimes[step.device!]?.status;
        if (!st) continue;
        st.crashCount += 1;
        st.crashRestarts = (st.crashRestarts ?? 0) + 1;
        const wait = crashBackoffMs(st.crashCount);
        this.crashWaits.set(step.device!, this.clock.mono() + wait);
        st.backoffUntil = new Date(now + wait).toISOString(); // shown; the wait itself is crashWaits'
        this.d.log.warn({ device: step.device, crashCount: st.crashCount, nextStart: st.backoffUntil }, `runtime exited unexpectedly (${step.reason})`);
      }
    });
    this.dirty = true; // re-plan: those runtimes now wait
    return new Set([...crashed.map((c) => c.device!), ...restarted]);
  }

  private async writeStatuses(observed: Observed, steps: Step[], now: number): Promise<void> {
    const byName = new Map(observed.containers.map((c) => [c.name, c]));
    // A runtime's own steps (its hardware's steps have keys of their own and show in their own status).
    const stepOf = new Map(steps.filter((s) => s.device !== null && s.key.startsWith('runtime/')).map((s) => [s.device!, s]));
    await this.d.store.update('status', (s) => {
      for (const [name, rec] of Object.entries(s.runtimes)) {
        const step = stepOf.get(name);
        // A runtime waiting for its image shows the pull's failure (pulls are keyed by image, shared).
        // The pull's failure first: an ImageMissing of the runtime's own key (image pruned) is older news.
        const failure = (step?.action === 'wait' && step.image ? this.failures.get(`image/${step.image}`) : undefined) ?? this.failures.get(`runtime/${name}`);
        const c = byName.get(name);
        const wifiPending = attachmentsOf(rec.spec, s.host.interfaces).find((a) => a.wifi && a.vnic.mode === 'static' && !(c && this.d.executor.wifiPaths.has(`${c.id}/${a.vnic.name}`)));
        const up = this.upSince.get(name);
        const ranLong = up !== undefined && this.clock.mono() - up > CRASH_RESET_MS;
        rec.status = deriveStatus(rec, c, step, failure, now, this.d.executor.nsMacs, wifiPending?.vnic.name ?? null, ranLong);
        const hw = passthroughStatus(rec, c, { ...s.host, serialMajors: this.d.executor.serialMajors }, this.d.executor.serialNodes, this.failures.get(`serial/${name}`), this.failures.get(`nic/${name}`));
        // Set when configured, gone when not (deriveStatus keeps what an earlier spec left).
        if (hw.serialPorts) rec.status.serialPorts = hw.serialPorts;
        else delete rec.status.serialPorts;
        if (hw.dedicatedInterface) rec.status.dedicatedInterface = hw.dedicatedInterface;
        else delete rec.status.dedicatedInterface;
      }
    });
  }

  private dispatch(step: Step): void {
    this.busy.set(step.key, { step, since: this.clock.mono() });
    if ((step.action === 'stop' || step.action === 'restart' || step.action === 'removeContainer') && step.containerId) this.requestedExits.add(step.containerId);
    void (step.action === 'pullImage' || step.action === 'agentUpdate' ? this.pulls : this.queue)
      .add(async () => {
        const log = this.d.log.child({ device: step.device, key: step.key });
        log.info({ action: step.action, reason: step.reason }, `${step.action}`);
        try {
          const out = await this.d.executor.run(step);
          this.countStep(step, 'ok');
          this.failures.delete(step.key);
          await this.afterSuccess(step, out?.started);
        } catch (e) {
          this.countStep(step, 'error');
          const prev = this.failures.get(step.key);
          const count = (prev?.count ?? 0) + 1;
          const wait = failureBackoffMs(count);
          const until = this.clock.wall() + wait;
          const untilMono = this.clock.mono() + wait;
          const se = e instanceof StepError ? e : null;
          // A remove refused before it began (its replacement's image is gone): the container did not exit.
          if (se?.reason === 'ImageMissing' && step.action === 'removeContainer') this.requestedExits.delete(step.containerId);
          const message = (e as Error).message;
          const generation = step.device !== null ? this.d.store.state.runtimes[step.device]?.generation : undefined;
          this.failures.set(step.key, { message, kind: se?.kind ?? 'container', reason: se?.reason ?? 'Error', count, until, untilMono, ...(generation !== undefined ? { generation } : {}) });
          log.error({ action: step.action, err: message, retryAt: new Date(until).toISOString() }, `${step.action} failed`);
          if (step.key === 'agent/uninstall') {
            await this.d.store.update('status', (s) => void (s.agent.uninstall && (s.agent.uninstall.error = message))).catch(() => undefined);
          }
          this.scheduleWake(untilMono);
        }
      })
      .finally(() => {
        this.doneAt.set(step.key, this.clock.mono());
        this.busy.delete(step.key);
        this.wake();
      });
  }

  private countStep(step: Step, result: 'ok' | 'error'): void {
    const c = this.stepsTotal.get(step.action) ?? { ok: 0, error: 0 };
    c[result]++;
    this.stepsTotal.set(step.action, c);
  }

  /** `started`: what the executor says it started (null: none after all); without it a start or restart
   * step's own container. Recorded as a start. */
  private async afterSuccess(step: Step, started?: string | null): Promise<void> {
    if (step.key === 'agent/uninstall') {
      await this.d.store.update('status', (s) => {
        if (!s.agent.uninstall) return;
        s.agent.uninstall.error = null;
        // Stages only move forward (removing_self records `done` itself before the container goes).
        if (step.action === 'uninstall' && UNINSTALL_STAGES.indexOf(step.stage) > UNINSTALL_STAGES.indexOf(s.agent.uninstall.step)) s.agent.uninstall.step = step.stage;
      });
      return;
    }
    const name = step.device;
    if (name === null) return;
    const now = new Date(this.clock.wall()).toISOString();
    await this.d.store.update('status', (s) => {
      const rec = s.runtimes[name];
      if (!rec) return;
      const startedId = started !== undefined ? started : step.action === 'start' || step.action === 'restart' ? step.containerId : null;
      if (startedId !== null) {
        this.requestedExits.delete(startedId);
        this.upSince.set(name, this.clock.mono());
        rec.status.lastStartedAt = now;
        // A new namespace has no lease yet: pending until its client reports (the address is asked for again).
        // A Wi-Fi vNIC's client runs on the host's parent and keeps its lease: only its path moves.
        const wifi = new Set(attachmentsOf(rec.spec, s.host.interfaces).filter((a) => a.wifi).map((a) => a.vnic.name));
        for (const [vnic, l] of Object.entries(rec.status.dhcp)) if (!wifi.has(vnic)) l.event = 'pending';
        // A crash accounted while this step was finishing keeps its backoff.
        const wait = this.crashWaits.get(name);
        if (wait === undefined || wait <= this.clock.mono() || rec.status.backoffUntil === null) {
          this.crashWaits.delete(name);
          rec.status.backoffUntil = null;
        }
        rec.status.restartCount = rec.restartCount;
      } else if (step.action === 'stop' || step.action === 'removeContainer') {
        rec.status.lastStartedAt = null;
        if (!rec.running) rec.status.restartCount = rec.restartCount;
      }
    });
  }

  /** `at` on the monotonic clock. */
  private scheduleWake(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Infinity;
      this.wakeTimer = null;
      this.wake();
    }, Math.max(0, at - this.clock.mono()) + 5);
  }
}
