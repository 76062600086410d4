// One line of `doctor`: the type every doctor-*.ts check returns, and how its `--json` id is made.
export type Level = 'OK' | 'WARN' | 'FAIL';
export interface Check {
  /** Stable kebab-case name of the check for scripts (`doctor --json`): the `what` with dashes. */
  id: string;
  level: Level;
  what: string;
  detail: string;
  /** What to do about a WARN or FAIL. */
  hint?: string;
}

/** A check line; the hint is kept only on a WARN or FAIL. */
export function check(level: Level, what: string, detail: string, hint?: string): Check {
  const id = what.replace(/ /g, '-');
  return hint && level !== 'OK' ? { id, level, what, detail, hint } : { id, level, what, detail };
}
