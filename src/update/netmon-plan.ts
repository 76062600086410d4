// The netmon swap of a self-update (docs/updates.md, "Netmon"): after the agent's commit, the new agent
// replaces `autonomy_netmon` with the same states as the updater's (prepared → stopping_old → trial →
// committing | rolling_back → committed | rolled_back) under the names `autonomy_netmon` and
// `autonomy_netmon_old`. The phase table is the updater's (nextUpdaterAction): one table, so a fix to it
// fixes both; only the reasons say "netmon". Pure.
import { tagOf } from '../reconcilers/container-identity.js';
import { INTERRUPTED_TRIAL, nextUpdaterAction, type UpdaterAction, type UpdaterView } from './updater-plan.js';

export const NETMON_OLD_SUFFIX = '_old';

/** Not the new image's fault: not recorded as a failed netmon update. */
export const INTERRUPTED_NETMON_TRIAL = 'the agent was interrupted during the netmon trial';
/** A rollback's reason when the engine, not the image, failed: like an interrupted trial, not recorded. */
export const DOCKER_KEPT_FAILING = 'a Docker call kept failing';

export type NetmonView = UpdaterView;
export type NetmonAction = UpdaterAction;

export function nextNetmonAction(v: NetmonView): NetmonAction {
  const a = nextUpdaterAction(v);
  if (a.do !== 'setPhase' || a.reason === undefined) return a;
  const reason = a.reason === INTERRUPTED_TRIAL ? INTERRUPTED_NETMON_TRIAL : a.reason.replace(' agent container', ' netmon container');
  return { ...a, reason };
}

/**
 * The image netmon is swapped to: the order's `netmon_image`, else the new agent image's tag on the running
 * netmon's repository (the pair is released together). A running netmon named by id or digest has no
 * repository to reuse: null (no swap).
 */
export function netmonTargetImage(orderNetmonImage: string | null | undefined, newAgentImage: string, runningNetmonImage: string): string | null {
  if (orderNetmonImage) return orderNetmonImage;
  if (runningNetmonImage.includes('@') || /^(sha256:)?[0-9a-f]{64}$/.test(runningNetmonImage)) return null;
  const colon = runningNetmonImage.lastIndexOf(':');
  const repo = colon > runningNetmonImage.lastIndexOf('/') ? runningNetmonImage.slice(0, colon) : runningNetmonImage;
  const agentRef = newAgentImage.split('@')[0]!;
  return `${repo}:${tagOf(agentRef)}`;
}

export interface FailedNetmonUpdate {
  imageId: string;
  reason: string;
  at: string;
  /** A newer agent's keys are kept (state.json's loose schema). */
  [key: string]: unknown;
}

export type NetmonSwapDecision = { swap: true } | { swap: false; why: string; error: boolean };

/** Whether to start a swap to `newImageId`: not to the running image, not to one that failed before. */
export function netmonSwapDecision(runningImageId: string, newImageId: string, failed: readonly FailedNetmonUpdate[]): NetmonSwapDecision {
  if (newImageId === runningImageId) return { swap: false, why: 'netmon already runs this image', error: false };
  const f = failed.find((x) => x.imageId === newImageId);
  if (f) return { swap: false, why: `netmon image ${newImageId.slice(7, 19)} failed before: ${f.reason}`, error: true };
  return { swap: true };
}

/** The failed list after a rollback: an interrupted trial is not the image's fault; the last 20 kept. */
export function recordFailedNetmon(failed: readonly FailedNetmonUpdate[], imageId: string, reason: string, at: string): FailedNetmonUpdate[] {
  if (reason === INTERRUPTED_NETMON_TRIAL || reason.startsWith(DOCKER_KEPT_FAILING)) return [...failed];
  return [...failed.filter((f) => f.imageId !== imageId), { imageId, reason, at }].slice(-20);
}
