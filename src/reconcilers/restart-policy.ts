// The restart policy, in one place (as IoT Edge keeps its RestartPolicyManager): how long a crashed
// runtime waits before the agent starts it again, when a crash loop is over, and how long a failed step
// waits before it is tried again (CONTRACT §7). Pure; the controller applies it.

/** A runtime that ran this long since its last start is out of its crash loop: its count starts over. */
export const CRASH_RESET_MS = 10 * 60_000;
const CRASH_FIRST_MS = 10_000;
const STEP_FIRST_MS = 1000;
const CAP_MS = 5 * 60_000;

/** Crash-loop backoff: 10 s·2^(n-1) for the n-th consecutive crash, capped at 5 min, never giving up. */
export const crashBackoffMs = (crashCount: number) => Math.min(CRASH_FIRST_MS * 2 ** Math.max(0, crashCount - 1), CAP_MS);

/** Backoff after the n-th consecutive failure of a step: 1 s·2^(n-1), capped at 5 min. */
export const failureBackoffMs = (count: number) => Math.min(STEP_FIRST_MS * 2 ** Math.max(0, count - 1), CAP_MS);

/** True when a runtime started at `lastStartedAt` (ISO) has run long enough for its crash count to reset. */
export function crashLoopOver(lastStartedAt: string | null, now: number): boolean {
  return lastStartedAt !== null && now - Date.parse(lastStartedAt) > CRASH_RESET_MS;
}
