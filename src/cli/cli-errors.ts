// Errors the CLI prints as one line (never a stack trace). Exit codes (docs/operating.md):
// 0 done / healthy; 1 failed (the agent refused, unhealthy, a FAIL in doctor, no such container, the
// engine unreachable); 2 the command line or its input is wrong; 3 the agent is not running.
/** The command line itself is wrong (unknown command, missing argument): the usage follows the message. */
export class UsageError extends Error {}
/** The command line is fine but its input is not (a file that cannot be read, text that is not JSON). */
export class InputError extends Error {}
/** The command ran and failed for a reason the operator can act on (no such container): exit 1. */
export class CommandFailed extends Error {}

export const EXIT = { ok: 0, failed: 1, usage: 2, agentNotRunning: 3 } as const;
