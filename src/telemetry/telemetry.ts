// The sampler: one sample per ORCH_HEARTBEAT_INTERVAL_MS for the host ("agent") and, from their cgroup
// files, for each running runtime ("device/<name>"); where the cgroups are not visible, runtimes go
// through the engine's one-shot stats once per 30 s (CONTRACT §5.5 allows it: the engine stays idle).
// Taken whether or not the cloud is connected; history flushed every FLUSH_EVERY_S (usage-history.ts).
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { ContainerSampler, type ContainerUsage } from './container-stats.js';
import { HostMetrics, type HostSample } from './host-metrics.js';
import { FLUSH_EVERY_S, UsageHistory } from './usage-history.js';

const DEVICE = 'device/';
export const deviceKey = (name: string) => `${DEVICE}${name}`;
/** A runtime's series (their samples past the hour are thinned: usage-history.ts). */
export const isDeviceKey = (key: string) => key.startsWith(DEVICE);

export class Telemetry {
  readonly history: UsageHistory;
  readonly host = new HostMetrics();
  readonly containers: ContainerSampler;
  last: HostSample | null = null;
  /** The last sample of each running runtime (metrics); a runtime that stops running leaves it. */
  readonly lastUsage = new Map<string, ContainerUsage>();
  private timer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private sampling = false;
  /** Read-only (refusing mode): host samples for the heartbeat, nothing recorded, nothing written. */
  private readOnly = false;
  /**
   * Runtimes this process has seen in the desired state. A series is dropped only when its runtime leaves
   * the state (its delete_device carried out), never because it is not there yet: a degraded start or a
   * `.bak` one write behind has runtimes that the first pass takes back from their containers.
   */
  private readonly seen = new Set<string>();

  constructor(
    dataDir: string,
    private readonly docker: Docker,
    private readonly store: Store,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.history = new UsageHistory(path.join(dataDir, 'usage-history.ndjson'), { thinned: isDeviceKey });
    this.containers = new ContainerSampler(docker);
  }

  start(options: { readOnly?: boolean } = {}): void {
    this.readOnly = options.readOnly === true;
    this.history.load();
    void this.host.staticFacts().catch(() => undefined);
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_EVERY_S * 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.flush();
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    try {
      await this.history.flush();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'usage history not written');
    }
  }

  private async tick(): Promise<void> {
    if (this.sampling) return; // a slow Docker must not pile up samplers
    this.sampling = true;
    const ts = Math.floor(Date.now() / 1000);
    try {
      this.last = await this.host.sample();
      if (this.readOnly) return;
      this.history.add('agent', [ts, Math.trunc(this.last.cpuPercent), Math.trunc(this.last.memUsedBytes / 2 ** 20)]);
      const runtimes = this.store.state.runtimes;
      for (const name of Object.keys(runtimes)) this.seen.add(name);
      for (const key of this.history.keys()) {
        const name = key.slice(DEVICE.length);
        if (isDeviceKey(key) && !(name in runtimes) && this.seen.delete(name)) this.history.drop(key);
      }
      const running = Object.entries(runtimes).filter(([, r]) => r.status.phase === 'Running' && !r.deletion);
      const names = new Set(running.map(([name]) => name));
      this.containers.retain(names);
      for (const name of this.lastUsage.keys()) if (!names.has(name)) this.lastUsage.delete(name);
      await Promise.all(
        running.map(async ([name]) => {
          try {
            const u = await this.containers.sample(name);
            if (u) {
              this.history.add(deviceKey(name), [ts, Math.trunc(u.cpuPercent), Math.trunc(u.memoryMb)]);
              this.lastUsage.set(name, u);
            }
          } catch {
            /* gone or engine away: no sample this round */
          }
        }),
      );
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'usage sample failed');
    } finally {
      this.sampling = false;
    }
  }
}
