// The updater's next action (docs/updates.md, phase 2), from what update.json says and what Docker shows
// under the two names: one action per call, re-planned from fresh observations after each one (like the
// reconcilers), so an updater killed at any point and started again by its restart policy continues or
// rolls back from what it finds. Pure.

/** Not the new image's fault: it is not recorded as a failed update (it may be tried again). */
export const INTERRUPTED_TRIAL = 'the updater was interrupted during the trial';

export type UpdatePhase = 'prepared' | 'stopping_old' | 'trial' | 'committing' | 'rolling_back' | 'committed' | 'rolled_back';

export interface SeenContainer {
  id: string;
  running: boolean;
  restartPolicy: string;
}

export interface UpdaterView {
  phase: UpdatePhase;
  /** The old agent's container id (update.json). */
  oldId: string;
  /** Its restart policy before the update (restored on commit to the new one, on rollback to the old). */
  oldPolicy: string;
  /** Under `orchestrator_agent` and `orchestrator_agent_old` now. */
  current: SeenContainer | null;
  old: SeenContainer | null;
  /** The candidate this updater process created (null after a restart of the updater). */
  createdHere: string | null;
  /** Rolling back: state.json has a schema the old agent would refuse, and the phase-1 snapshot is there (state-snapshot.ts). */
  restoreState?: boolean;
}

export type UpdaterAction =
  | { do: 'renameCurrentToOld' }
  | { do: 'stopOld' } // policy `no`, then stop
  | { do: 'removeCurrent'; id: string }
  | { do: 'createCandidate' }
  | { do: 'startTrial' } // writes phase `trial`, then starts the candidate
  | { do: 'gate' }
  | { do: 'setPhase'; phase: UpdatePhase; reason?: string }
  | { do: 'setCurrentPolicy'; policy: string }
  | { do: 'restoreState' } // the phase-1 snapshot back as state.json
  | { do: 'removeOld' }
  | { do: 'renameOldToCurrent' }
  | { do: 'startCurrent' }
  | { do: 'finish' };

export function nextUpdaterAction(v: UpdaterView): UpdaterAction {
  const isOld = (c: SeenContainer | null) => c?.id === v.oldId;
  switch (v.phase) {
    case 'committed':
    case 'rolled_back':
      return { do: 'finish' };
    case 'prepared':
      if (isOld(v.current)) return { do: 'renameCurrentToOld' };
      if (isOld(v.old)) return { do: 'setPhase', phase: 'stopping_old' };
      return { do: 'setPhase', phase: 'rolled_back', reason: 'the old agent container is gone' };
    case 'stopping_old':
      if (isOld(v.current)) return { do: 'renameCurrentToOld' };
      if (!isOld(v.old)) return { do: 'setPhase', phase: 'rolling_back', reason: 'the old agent container is gone' };
      if (v.old!.running || v.old!.restartPolicy !== 'no') return { do: 'stopOld' };
      // A candidate left by an updater that was killed may be half made: made again.
      if (v.current && v.current.id !== v.createdHere) return { do: 'removeCurrent', id: v.current.id };
      return v.current ? { do: 'startTrial' } : { do: 'createCandidate' };
    case 'trial':
      // An updater restarted mid-trial cannot tell how long the candidate has had: back to the old one.
      if (v.createdHere === null || v.current?.id !== v.createdHere) return { do: 'setPhase', phase: 'rolling_back', reason: INTERRUPTED_TRIAL };
      return { do: 'gate' };
    case 'committing':
      if (!v.current && isOld(v.old)) return { do: 'setPhase', phase: 'rolling_back', reason: 'the new agent container is gone' };
      if (v.current && v.current.restartPolicy !== v.oldPolicy) return { do: 'setCurrentPolicy', policy: v.oldPolicy };
      // After a power cut the candidate (policy `no` until just now) stays down: it passed the gate, so started.
      if (v.current && !v.current.running) return { do: 'startCurrent' };
      if (v.old) return { do: 'removeOld' };
      return { do: 'setPhase', phase: 'committed' };
    case 'rolling_back':
      if (v.current && !isOld(v.current)) return { do: 'removeCurrent', id: v.current.id };
      // Once the new agent (the only writer of a newer schema) is gone, before the old one may start again.
      if (v.restoreState === true) return { do: 'restoreState' };
      if (!v.current && isOld(v.old)) return { do: 'renameOldToCurrent' };
      if (isOld(v.current) && v.current!.restartPolicy !== v.oldPolicy) return { do: 'setCurrentPolicy', policy: v.oldPolicy };
      if (isOld(v.current) && !v.current!.running) return { do: 'startCurrent' };
      return { do: 'setPhase', phase: 'rolled_back' };
  }
}
