// Self-health for Docker's HEALTHCHECK: unhealthy only when the reconciler is wedged (no completed pass
// within 3× the resync interval) or the data dir cannot be written. Never because the cloud or netmon
// is unreachable: restarting the agent would not bring them back.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Health {
  healthy: boolean;
  problems: string[];
  lastPassAt: string | null;
}

export async function checkHealth(lastPassAt: number, resyncIntervalMs: number, dataDir: string, now = Date.now()): Promise<Health> {
  const problems: string[] = [];
  if (now - lastPassAt > 3 * resyncIntervalMs) {
    problems.push(`reconciler wedged: no completed pass for ${Math.round((now - lastPassAt) / 1000)} s (limit ${(3 * resyncIntervalMs) / 1000} s)`);
  }
  const probe = path.join(dataDir, '.health-probe');
  try {
    await fs.writeFile(probe, String(now));
    await fs.rm(probe, { force: true });
  } catch (e) {
    problems.push(`data dir ${dataDir} cannot be written: ${(e as Error).message}`);
  }
  return { healthy: problems.length === 0, problems, lastPassAt: lastPassAt ? new Date(lastPassAt).toISOString() : null };
}
