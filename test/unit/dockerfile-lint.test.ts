// The shipped Dockerfiles pass dockerfile-utils' lint (npm devDependency; hadolint is not packaged for
// Debian 12) and stay COPY-only where the offline build needs it; install.sh passes shellcheck.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const lint = path.join(ROOT, 'node_modules/.bin/dockerfile-utils');

for (const f of ['Dockerfile', 'install/Dockerfile.netmon', 'install/Dockerfile.base']) {
  test(`dockerfile-utils lint ${f}`, () => {
    execFileSync(lint, ['lint', path.join(ROOT, f)], { stdio: 'pipe' });
  });
}

test('the lint fails on a broken Dockerfile (the check can fail)', () => {
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'orch-lint-')), 'Dockerfile');
  fs.writeFileSync(bad, 'FROM\nCOPY a\n');
  try {
    assert.throws(() => execFileSync(lint, ['lint', bad], { stdio: 'pipe' }));
  } finally {
    fs.rmSync(path.dirname(bad), { recursive: true, force: true });
  }
});

test('the agent and netmon Dockerfiles are COPY-only on ARG BASE_IMAGE, and share their first layers', () => {
  const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const agent = read('Dockerfile');
  const netmon = read('install/Dockerfile.netmon');
  for (const lines of [agent, netmon]) {
    assert.ok(!lines.some((l) => /^\s*(RUN|ADD)\b/i.test(l)), lines.join('\n'));
    assert.match(lines[0]!, /^ARG BASE_IMAGE=/);
    assert.equal(lines[1], 'FROM ${BASE_IMAGE}');
  }
  const shared = agent.findIndex((l) => l.startsWith('ENTRYPOINT'));
  assert.deepEqual(netmon.slice(0, shared + 1), agent.slice(0, shared + 1));
  assert.ok(netmon.includes('CMD ["netmon"]') && agent.includes('CMD ["run"]'));
});

test('shellcheck finds nothing in install/install.sh and bin/orchestrator-agent', () => {
  execFileSync('shellcheck', [path.join(ROOT, 'install/install.sh'), path.join(ROOT, 'bin/orchestrator-agent')], { stdio: 'pipe' });
});

test('both images start through bin/orchestrator-agent (the light settings, src/light-settings.ts), which their context carries', () => {
  for (const f of ['Dockerfile', 'install/Dockerfile.netmon']) {
    const s = fs.readFileSync(path.join(ROOT, f), 'utf8');
    assert.match(s, /^COPY bin \.\/bin$/m, f);
    assert.match(s, /^ENTRYPOINT \["\/app\/bin\/orchestrator-agent"\]$/m, f);
  }
  assert.match(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'), /^!bin$/m);
});
