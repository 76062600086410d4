// Every command the README and docs/ show exists as shown: `orchestrator-agent <command> [flags]` (or
// `node dist/main.js <command>`) names a command of the CLI and only flags its --help text (HELP, what
// `<command> --help` prints) lists; `npm run <script>`, `npm start`, `npm test` name a script of package.json.
// A renamed command, flag or script makes this fail until the docs follow.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { HELP } from '../../src/cli/help.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The code in a page: each inline code span, and each line of a fenced block. */
function codeOf(text: string): string[] {
  const out: string[] = [];
  const fenced = /^```[^\n]*\n([\s\S]*?)^```/gm;
  for (const m of text.matchAll(fenced)) out.push(...m[1]!.split('\n'));
  for (const m of text.replace(fenced, '').matchAll(/`([^`\n]+)`/g)) out.push(m[1]!);
  // Markdown tables escape the pipe of `a\|b`.
  return out.map((c) => c.replaceAll('\\|', '|'));
}

/** A command at the start of a code line: after an optional prompt, sudo, `docker exec [-it] CONTAINER`. */
const CLI_LINE = /^\s*(?:[$#] )?(?:sudo )?(?:docker exec (?:-\w+ )*\S+ )?(?:orchestrator-agent|node dist\/main\.js)\s+(\S+)(.*)$/;

/** The flags (`--x`, `-x`) a usage text or a command line names. */
const flagsIn = (s: string) => new Set([...s.matchAll(/(?<![\w-])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]!));

function cliProblems(doc: string, code: string): string[] {
  const m = CLI_LINE.exec(code);
  if (!m) return [];
  // The command's own words end at a shell pipe, &&, ; or a comment.
  const rest = m[2]!.split(/ \| | && |;| #/)[0]!;
  const problems: string[] = [];
  for (const cmd of m[1]!.split('|')) {
    // `--version`; a placeholder (`orchestrator-agent <version> (commit <sha>)` is output, `<command>` any).
    if (cmd === '--version' || cmd.startsWith('<')) continue;
    const help = HELP[cmd];
    if (help === undefined) {
      problems.push(`${doc}: \`${code}\`: no command "${cmd}"`);
      continue;
    }
    const known = new Set([...flagsIn(help), '--help', '-h']);
    for (const f of flagsIn(rest)) if (!known.has(f)) problems.push(`${doc}: \`${code}\`: ${cmd} has no flag ${f}`);
  }
  return problems;
}

test('every orchestrator-agent command and flag the README and docs/ show exists', () => {
  const problems: string[] = [];
  let seen = 0;
  for (const doc of DOCS) {
    for (const code of codeOf(fs.readFileSync(path.join(ROOT, doc), 'utf8'))) {
      if (CLI_LINE.test(code)) seen++;
      problems.push(...cliProblems(doc, code));
    }
  }
  assert.ok(seen > 20, `the scan finds the docs' commands (${seen})`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('every npm script the README and docs/ run is in package.json', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const problems: string[] = [];
  for (const doc of DOCS) {
    for (const code of codeOf(fs.readFileSync(path.join(ROOT, doc), 'utf8'))) {
      for (const m of code.matchAll(/\bnpm (?:run(?:-script)? ([\w:.-]+)|(start|test)\b)/g)) {
        const name = m[1] ?? m[2]!;
        if (scripts[name] === undefined) problems.push(`${doc}: \`${code}\`: no npm script "${name}"`);
      }
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('the scan reads a renamed flag as wrong', () => {
  assert.deepEqual(cliProblems('x.md', 'orchestrator-agent state NAME --json'), []);
  assert.deepEqual(cliProblems('x.md', 'sudo docker exec -it orchestrator_agent node dist/main.js logs plc1 --tail 5 | less'), []);
  assert.deepEqual(cliProblems('x.md', 'orchestrator-agent logs plc1 --lines 5'), ['x.md: `orchestrator-agent logs plc1 --lines 5`: logs has no flag --lines']);
  assert.deepEqual(cliProblems('x.md', 'orchestrator-agent status'), ['x.md: `orchestrator-agent status`: no command "status"']);
});
