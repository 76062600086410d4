// The docs stay true to the code: every ORCH_* variable src/ reads is in docs/configuration.md, and every
// repository path the docs name in backticks exists.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

/** ORCH_* names in src/ that are not environment variables: netmon's DHCP script marker, the build's __ORCH_COMMIT__. */
const NOT_VARIABLES = new Set(['ORCH_DHCP']);

test('every ORCH_* variable read in src/ is in docs/configuration.md', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
  const documented = new Set(doc.match(/\bORCH_[A-Z0-9_]+/g) ?? []);
  const read = new Set<string>();
  for (const file of filesUnder('src', /\.ts$/)) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?<![A-Za-z0-9_])ORCH_[A-Z0-9]+(?:_[A-Z0-9]+)*(?![A-Za-z0-9_])/g)) {
      if (!NOT_VARIABLES.has(m[0])) read.add(m[0]);
    }
  }
  assert.ok(read.has('ORCH_DATA_DIR'), 'the scan finds the variables src/ reads');
  const missing = [...read].filter((v) => !documented.has(v)).sort();
  assert.deepEqual(missing, [], `docs/configuration.md: missing ${missing.join(', ')}`);
});

/** Named in docs/performance.md as the tool of an old measurement that says it is gone. */
const GONE_ON_PURPOSE = new Set(['bench/make-bundle.sh']);

test('every repository path the README and docs/ name exists', () => {
  const docs = ['README.md', ...filesUnder('docs', /\.md$/).map((f) => path.relative(ROOT, f))];
  const missing: string[] = [];
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    // Paths under the repository's top-level folders, in backticks or brackets or bare, up to a separator;
    // a glob or placeholder (`bench/X.bench.ts`, `src/*`, `<name>`) names no one file.
    for (const m of text.matchAll(/(?<![\w./$-])((?:src|test|bench|scripts|install|docs|bin)\/[\w./-]*\w)/g)) {
      const p = m[1]!;
      if (/[*<>]|\/[Xx]\./.test(p) || GONE_ON_PURPOSE.has(p)) continue;
      if (![p, `${p}.ts`, `docs/${p}`].some((q) => fs.existsSync(path.join(ROOT, q)))) missing.push(`${doc}: ${p}`);
    }
    // Relative links between pages ([text](page.md#anchor)).
    for (const m of text.matchAll(/\]\(([\w./-]+\.md)(?:#[\w-]*)?\)/g)) {
      if (!fs.existsSync(path.resolve(path.dirname(path.join(ROOT, doc)), m[1]!))) missing.push(`${doc}: link ${m[1]}`);
    }
  }
  assert.deepEqual(missing, [], `paths named in docs that do not exist:\n${missing.join('\n')}`);
});
