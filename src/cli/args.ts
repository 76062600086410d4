// One command's arguments, parsed by node:util's parseArgs in strict mode: an unknown flag is refused by
// name (exit 2), `--help` is answered before anything runs, `-o json` means the same as `--json`.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './cli-errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `--json` and `-o json` (kubectl's spelling): every command with a JSON answer takes both. */
export const OUTPUT_OPTIONS = { json: { type: 'boolean' }, output: { type: 'string', short: 'o' } } as const satisfies Options;

/** True when the command line asks for help (before `--`): the caller prints the usage and does nothing else. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };
  positionals: string[];
}

/** Parses `args` of `cmd`; every problem is a UsageError naming the flag or argument. */
export function parseCommand<O extends Options>(cmd: string, args: readonly string[], options: O, positionals: { max: number; what?: string }): Parsed<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${cmd}: unknown option ${unknownOptions(args, options).join(', ')}`);
    // "Option '--tail <value>' argument missing" and the like: parseArgs's first sentence names the flag.
    throw new UsageError(`${cmd}: ${err.message.split('\n')[0]!.replace(/\.$/, '')}`);
  }
  const extra = parsed.positionals.slice(positionals.max);
  if (extra.length > 0) {
    const what = positionals.max === 0 ? 'no argument' : `${positionals.max === 1 ? 'one' : positionals.max} ${positionals.what ?? 'argument'}`;
    throw new UsageError(`${cmd} takes ${what}; unexpected: ${extra.join(' ')}`);
  }
  return parsed;
}

/** Every flag on the line that `options` does not know (parseArgs stops at the first). */
function unknownOptions(args: readonly string[], options: Options): string[] {
  const longs = new Set(Object.keys(options));
  const shorts = new Set(Object.values(options).flatMap((o) => (o.short ? [o.short] : [])));
  const unknown: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('--')) {
      const name = a.slice(2).split('=')[0]!;
      if (!longs.has(name)) unknown.push(`--${name}`);
      else if (options[name]!.type === 'string' && !a.includes('=')) i++;
    } else if (a.startsWith('-') && a.length > 1) {
      for (const ch of a.slice(1)) {
        if (!shorts.has(ch)) {
          unknown.push(`-${ch}`);
          break;
        }
        const long = Object.entries(options).find(([, o]) => o.short === ch);
        if (long?.[1].type === 'string') {
          if (a.endsWith(ch)) i++;
          break;
        }
      }
    }
  }
  return unknown.length > 0 ? unknown : ['(unknown)'];
}

/** `--json` or `-o json`; `-o` with anything else is refused. */
export function jsonOutput(cmd: string, values: { json?: boolean; output?: string }): boolean {
  if (values.output !== undefined && values.output !== 'json') throw new UsageError(`${cmd}: -o takes json, got ${JSON.stringify(values.output)}`);
  return values.json === true || values.output === 'json';
}
