// Errors an operator causes: the CLI prints them as one line (never a stack trace) and exits 2.
/** The command line itself is wrong (unknown command, missing argument): the usage follows the message. */
export class UsageError extends Error {}
/** The command line is fine but its input is not (a file that cannot be read, text that is not JSON). */
export class InputError extends Error {}
