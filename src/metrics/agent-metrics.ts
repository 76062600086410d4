// What the agent exposes on /metrics, read from memory only (the state, the controller's counters, the
// telemetry's last samples, the disk guard's last readings): a scrape never calls Docker.
import type { DiskGuard } from '../disk/disk-guard.js';
import type { Controller } from '../reconcilers/controller.js';
import { phaseSchema } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { DockerCallLatency } from './docker-calls.js';
import type { Family, Sample } from './exposition.js';

export interface MetricsSources {
  store: Store;
  controller: Controller;
  dockerCalls: DockerCallLatency;
  telemetry: Telemetry | null;
  disk: DiskGuard | null;
  /** Null when the cloud is off. */
  cloud: { connected: boolean; connects: number } | null;
  netmonConnected: boolean | null;
  /** notAfter of the device certificate in use (ms since the epoch), null without one. */
  certNotAfter: () => number | null;
}

const gauge = (name: string, help: string, samples: Sample[]): Family => ({ name, help, type: 'gauge', samples });
const counter = (name: string, help: string, samples: Sample[]): Family => ({ name, help, type: 'counter', samples });
const bit = (b: boolean) => (b ? 1 : 0);

export function agentMetrics(s: MetricsSources): Family[] {
  const runtimes = Object.entries(s.store.state.runtimes);
  const byPhase = new Map<string, number>(phaseSchema.options.map((p) => [p, 0]));
  for (const [, r] of runtimes) byPhase.set(r.status.phase, (byPhase.get(r.status.phase) ?? 0) + 1);
  const c = s.controller;
  const steps = [...c.stepsTotal].flatMap(([action, n]) => [
    { labels: { action, result: 'ok' }, value: n.ok },
    { labels: { action, result: 'error' }, value: n.error },
  ]);
  const families: Family[] = [
    gauge('orch_runtimes', 'Runtimes in the desired state, by phase.', [...byPhase].map(([phase, value]) => ({ labels: { phase }, value }))),
    counter('orch_runtime_restarts_total', 'Starts of a runtime after it exited on its own (restart_count of get_device_status).', runtimes.map(([device, r]) => ({ labels: { device }, value: r.status.crashRestarts }))),
    gauge('orch_runtime_crash_looping', '1 while a runtime waits out a crash backoff (CrashLoopBackOff).', runtimes.map(([device, r]) => ({ labels: { device }, value: bit(r.status.conditions.some((x) => x.type === 'Running' && x.reason === 'CrashLoopBackOff')) }))),
    counter('orch_reconcile_passes_total', 'Reconcile passes begun.', [{ value: c.passesTotal }]),
    counter('orch_reconcile_pass_failures_total', 'Reconcile passes that failed (the engine unreachable included).', [{ value: c.passFailuresTotal }]),
    counter('orch_reconcile_steps_total', 'Reconcile steps finished, by action and result.', steps),
    { name: 'orch_reconcile_pass_duration_seconds', help: 'Duration of completed reconcile passes (observe, plan, status, dispatch).', type: 'histogram', histogram: c.passSeconds },
    { name: 'orch_docker_request_duration_seconds', help: 'Duration of Docker API requests (to the response; a stream: to its headers), by operation (path with ids as {id}) and result.', type: 'histogram', series: s.dockerCalls.series() },
  ];
  const usage = [...(s.telemetry?.lastUsage ?? [])];
  families.push(
    gauge('orch_runtime_cpu_percent', "A running runtime's CPU use in its last sample (100 = one core).", usage.map(([device, u]) => ({ labels: { device }, value: u.cpuPercent }))),
    gauge('orch_runtime_memory_bytes', "A running runtime's memory use in its last sample.", usage.map(([device, u]) => ({ labels: { device }, value: Math.round(u.memoryMb * 2 ** 20) }))),
  );
  if (s.disk) {
    const fs: Sample[] = [];
    if (s.disk.dockerRoot) fs.push({ labels: { fs: 'docker_root' }, value: s.disk.dockerRoot.availBytes });
    if (s.disk.dataDir) fs.push({ labels: { fs: 'data_dir' }, value: s.disk.dataDir.availBytes });
    families.push(
      gauge('orch_disk_avail_bytes', "Free bytes of the Docker data root and the agent's data dir at the disk guard's last check.", fs),
      gauge('orch_disk_pressure', '1 while the DiskPressure condition is True.', [{ value: bit(s.disk.condition.status === 'True') }]),
      counter('orch_disk_images_removed_total', 'Images the disk guard removed for space.', [{ value: s.disk.imagesRemoved }]),
    );
  }
  if (s.cloud) {
    families.push(
      gauge('orch_cloud_connected', '1 while the cloud link is connected.', [{ value: bit(s.cloud.connected) }]),
      counter('orch_cloud_connects_total', 'Cloud link connections made (reconnects are this minus one).', [{ value: s.cloud.connects }]),
    );
  }
  if (s.netmonConnected !== null) families.push(gauge('orch_netmon_connected', '1 while the agent is connected to netmon.', [{ value: bit(s.netmonConnected) }]));
  const notAfter = s.certNotAfter();
  if (notAfter !== null) families.push(gauge('orch_certificate_expiry_timestamp_seconds', "When the device certificate in use expires (Unix time).", [{ value: Math.floor(notAfter / 1000) }]));
  return families;
}
