// `orchestrator-agent apply FILE | apply -f FILE` (FILE `-` = stdin): which file, and its JSON payload.
import fs from 'node:fs';
import { InputError, UsageError } from './cli-errors.js';

/** The file named by `apply`'s arguments (`--json` and other `--` flags are the caller's). */
export function applyFileArg(args: readonly string[]): string {
  const rest = args.filter((a) => !a.startsWith('--'));
  let file: string | undefined;
  if (rest[0] === '-f') {
    if (rest.length < 2) throw new UsageError('apply -f needs a file (or - for stdin)');
    file = rest[1];
    if (rest.length > 2) throw new UsageError(`apply takes one file; unexpected: ${rest.slice(2).join(' ')}`);
  } else {
    file = rest[0];
    if (rest.length > 1) throw new UsageError(`apply takes one file; unexpected: ${rest.slice(1).join(' ')}`);
  }
  if (file === undefined || file === '') throw new UsageError('apply needs a file (or - for stdin)');
  return file;
}

const READ_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'no such file (a path component is not a directory)',
};

/** Reads and parses the payload; every failure is an InputError naming the file and what is wrong. */
export function readApplyPayload(file: string): unknown {
  const name = file === '-' ? '(stdin)' : file;
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InputError(`apply: ${name}: cannot read: ${READ_PROBLEMS[err.code ?? ''] ?? err.message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // JSON.parse's message says where ("Unexpected token } in JSON at position 12"); one line of it.
    throw new InputError(`apply: ${name}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}
