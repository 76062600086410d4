// Runtime version upgrades (pure): a new runtime_version replaces the container and is gated on the
// runtime's own readiness; a version that never becomes ready is rolled back to the spec and image the
// replaced container stood for (recorded in status.upgrade before it went), or held stopped when that
// image is gone. Held or rolled back until a new order (a new generation). docs/runtime-containers.md.
import type { ObservedContainer } from '../docker/observed.js';
import { LABEL } from '../domain/names.js';
import type { RuntimeSpec } from '../domain/runtime-spec.js';
import type { RuntimeRecord, RuntimeUpgrade } from '../store/schema.js';
import { tagOf } from './container-identity.js';
import { specFromLabel } from './recover.js';
import type { StepBody } from './steps.js';

/** How often the readiness of a new version is probed (one GET of at most READY_PROBE_TIMEOUT_MS each). */
export const READY_PROBE_INTERVAL_MS = 2000;
export const READY_PROBE_TIMEOUT_MS = 2000;
/** The unauthenticated endpoint the OpenPLC image's own HEALTHCHECK asks. */
export const READY_PATH = '/api/version';

/** What the executor's probes observed of one container's readiness, as the planner sees it. */
export interface Readiness {
  ready: boolean;
  /** Not ready and the first probe was longer ago than the ready timeout (monotonic clock of this agent). */
  expired: boolean;
  /** ms epoch: the next probe is due. */
  nextProbeAt: number;
  /** The last probe's answer (`HTTP 503`, `connect ECONNREFUSED …`, `not running`). */
  detail: string;
}

/** The upgrade of the record's current order, if one is under way, rolled back or held. */
export function currentUpgrade(rec: RuntimeRecord): RuntimeUpgrade | null {
  const u = rec.status.upgrade;
  return u !== undefined && u.generation === rec.generation ? u : null;
}

/**
 * What the runtime converges to: its desired record, except after a failed upgrade of this order: the
 * previous spec (rolled back) or the desired spec held stopped.
 */
export function effectiveRecord(rec: RuntimeRecord): RuntimeRecord {
  const u = currentUpgrade(rec);
  if (u?.stage === 'rolledBack') return { ...rec, spec: u.from.spec };
  if (u?.stage === 'held') return { ...rec, running: false };
  return rec;
}

/** The image a runtime's container is made from: the recorded previous one after a rollback. */
export function targetImage(rec: RuntimeRecord, repo: string): string {
  const u = currentUpgrade(rec);
  return u?.stage === 'rolledBack' ? u.from.image : `${repo}:${rec.spec.runtimeVersion}`;
}

/** The spec a container stands for: its spec label, else (an adopted container) the desired spec with its image's tag. */
function specOfContainer(c: ObservedContainer, rec: RuntimeRecord): RuntimeSpec {
  return specFromLabel(c.labels[LABEL.spec], rec.spec.name) ?? { ...rec.spec, runtimeVersion: tagOf(c.image) };
}

/**
 * Before a container of another version is removed for the desired one (or, on a new order after a held
 * or unfinished upgrade, before the unproven container is started or replaced): record the rollback target.
 * An existing record always names the last version that was proven (a success deletes it), so a new order
 * in the middle of an upgrade, or after a rollback, keeps that one and not the unproven version.
 */
export function upgradeBeginStep(rec: RuntimeRecord, c: ObservedContainer | undefined, image: string): StepBody | null {
  if (!rec.running || currentUpgrade(rec) !== null) return null;
  const earlier = rec.status.upgrade;
  const unproven = earlier !== undefined && earlier.stage !== 'rolledBack';
  const changes = c !== undefined && specOfContainer(c, rec).runtimeVersion !== rec.spec.runtimeVersion;
  if (!changes && !unproven) return null;
  const from = earlier?.from ?? { spec: specOfContainer(c!, rec), image: c!.image };
  return {
    action: 'upgradeBegin',
    from,
    toImage: image,
    containerId: c?.id ?? null,
    reason: `runtime version ${from.spec.runtimeVersion} → ${rec.spec.runtimeVersion}: rollback target recorded before the container is replaced`,
  };
}

/**
 * The readiness gate of the new container (up to date, running wanted): done once it answers, rolled back
 * (or held) once the deadline passed without an answer, else probed again when due. `step` is what the
 * runtime would do otherwise; `probe` is planned under a key of its own (it never holds up the runtime).
 */
export function gateSteps(
  rec: RuntimeRecord,
  c: ObservedContainer,
  step: StepBody | null,
  r: Readiness | undefined,
  now: number,
  timeoutMs: number,
): { runtime: StepBody | null; probe: StepBody | null } {
  const version = rec.spec.runtimeVersion;
  if (r?.expired) {
    const detail = `${version} did not answer GET ${READY_PATH} within ${Math.round(timeoutMs / 1000)} s (last: ${r.detail})`;
    return { runtime: { action: 'upgradeEnd', outcome: 'notReady', detail, reason: detail }, probe: null };
  }
  if (r?.ready) {
    return { runtime: step && step.action !== 'wait' ? step : { action: 'upgradeEnd', outcome: 'ready', detail: '', reason: `${version} answered GET ${READY_PATH}` }, probe: null };
  }
  const due = r === undefined || r.nextProbeAt <= now;
  const probe: StepBody | null = due ? { action: 'probeReady', containerId: c.id, reason: `readiness of ${version} (GET ${READY_PATH})` } : null;
  const wait: StepBody = {
    action: 'wait',
    until: due ? null : new Date(r.nextProbeAt).toISOString(),
    condition: 'ContainerReady',
    reason: `WaitingForReady: ${version} started; the upgrade is final once it answers GET ${READY_PATH} (up to ${Math.round(timeoutMs / 1000)} s${r ? `; last: ${r.detail}` : ''})`,
  };
  return { runtime: step ?? wait, probe };
}
