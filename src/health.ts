// Self-health for Docker's HEALTHCHECK: unhealthy only when the reconciler is wedged (no completed pass
// within 3× the resync interval, or a step in flight for minutes), the data dir cannot be written, or the
// state file is a newer agent's. Never because the cloud or netmon is unreachable: restarting the agent
// would not bring them back.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Health {
  healthy: boolean;
  problems: string[];
  lastPassAt: string | null;
}

export interface HealthExtras {
  /** Set when state.json is a newer agent's: nothing is reconciled on purpose. */
  refusal?: string | null;
  /** Steps in flight for longer than they should take. */
  stuck?: readonly string[];
  /** Time since the last completed pass by the monotonic clock (else `now - lastPassAt`, wall clock). */
  sincePassMs?: number;
}

export async function checkHealth(lastPassAt: number, resyncIntervalMs: number, dataDir: string, now = Date.now(), extras: HealthExtras = {}): Promise<Health> {
  const problems: string[] = [];
  if (extras.refusal) problems.push(`${extras.refusal}: this agent changes nothing until it is upgraded or the file is replaced`);
  else if ((extras.sincePassMs ?? now - lastPassAt) > 3 * resyncIntervalMs) {
    problems.push(`reconciler wedged: no completed pass for ${Math.round((extras.sincePassMs ?? now - lastPassAt) / 1000)} s (limit ${(3 * resyncIntervalMs) / 1000} s)`);
  }
  for (const s of extras.stuck ?? []) problems.push(`step stuck: ${s}`);
  const probe = path.join(dataDir, '.health-probe');
  try {
    await fs.writeFile(probe, String(now));
    await fs.rm(probe, { force: true });
  } catch (e) {
    problems.push(`data dir ${dataDir} cannot be written: ${(e as Error).message}`);
  }
  return { healthy: problems.length === 0, problems, lastPassAt: lastPassAt ? new Date(lastPassAt).toISOString() : null };
}
