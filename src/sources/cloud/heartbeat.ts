// The heartbeat (CONTRACT §3): one loop per connection, volatile (never queued while offline).
import { monoNow } from '../../clock.js';
import type { Socket } from 'socket.io-client';
import type { DiskGuard } from '../../disk/disk-guard.js';
import type { Store } from '../../store/store.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { sendEvent } from './outgoing.js';

const gb = (bytes: number) => Math.round((bytes / 2 ** 30) * 10) / 10;

export function heartbeatPayload(agentId: string, version: string, startedAt: number /* monoNow() */, telemetry: Telemetry, store: Store, disk?: DiskGuard | null): Record<string, unknown> {
  const h = telemetry.last;
  const runtimes = Object.values(store.state.runtimes);
  return {
    agent_id: agentId,
    agent_version: version, // the Python agent's feature/version-management field (reference §18.2)
    cpu_usage: h ? Math.round(h.cpuPercent * 10) / 10 : 0,
    memory_usage: h ? gb(h.memUsedBytes) : 0,
    memory_total: h ? gb(h.memTotalBytes) : 0,
    disk_usage: h ? gb(h.diskUsedBytes) : 0,
    disk_total: h ? gb(h.diskTotalBytes) : 0,
    uptime: Math.floor((monoNow() - startedAt) / 1000),
    status: 'active',
    timestamp: new Date().toISOString(),
    version,
    runtimes: {
      total: runtimes.length,
      running: runtimes.filter((r) => r.status.phase === 'Running').length,
      failing: runtimes.filter((r) => r.status.phase === 'Failed').length,
    },
    // Extension (issue #23): true at the high-water mark of the Docker data root or the data dir; null = not measured.
    disk_pressure: disk && disk.condition.status !== 'Unknown' ? disk.condition.status === 'True' : null,
  };
}

/** Starts the heartbeat for one connection; returns its stop function. */
export function startHeartbeat(socket: Socket, intervalMs: number, payload: () => Record<string, unknown>): () => void {
  const timer = setInterval(() => {
    if (socket.connected) sendEvent(socket, 'heartbeat', payload(), { volatile: true });
  }, intervalMs);
  return () => clearInterval(timer);
}
