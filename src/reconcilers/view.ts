// What sources may see of the reconcilers: wake them, ask for the plan and their health. Nothing else of
// the controller (its queues, failure map or crash bookkeeping) is theirs to touch.
import type { Failure } from './status.js';
import type { Step } from './steps.js';

export interface ReconcilerView {
  /** Runs a pass now (a source wrote desired state or saw a change). */
  wake(): void;
  /** The steps in flight and those a pass would take now; nothing is done. */
  dryRun(): Promise<Step[]>;
  /** The failure and backoff of a work key (`runtime/<name>`), if its last step failed. */
  failureOf(key: string): Failure | undefined;
  /** Steps in flight longer than they should take. */
  stuckSteps(): string[];
  readonly lastPassAt: number;
  /** The same on the monotonic clock (health measures the time since it). */
  readonly lastPassMono: number;
  readonly lastObserveError: string | null;
}
