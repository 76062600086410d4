// The agent's log files (rolling-file.ts, in process): every line on stdout and in the file, rotation by size
// with a bounded number of files, and a really full disk (a 256 KiB tmpfs): stdout keeps every line, the
// error is reported once, the process lives on, and the file gets lines again once space is back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { createAgentLogger } from '../../src/log-files.js';
import { waitFor } from '../support/wait.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-logfiles-'));
  dirs.push(d);
  return d;
};

function stdoutCapture() {
  const lines: string[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(...c.toString().split('\n').filter((l) => l !== '')), cb()) });
  return { stream, lines, msgs: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

const logFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^agent\.\d+\.log$/.test(f)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])) : []);
const readAll = (dir: string) => logFiles(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');

test('every line reaches stdout and the file, secrets masked in both', async () => {
  const data = tmp();
  const out = stdoutCapture();
  const { log, files } = createAgentLogger('info', data, {}, out.stream);
  assert.ok(files);
  log.info({ device: 'plc1', password: 'pw-secret' }, 'hello file');
  log.debug('below the level');
  await waitFor('line in the file', () => readAll(path.join(data, 'logs')).includes('hello file'), 5000, 20);
  await files.close();
  const file = readAll(path.join(data, 'logs'));
  assert.deepEqual(out.msgs(), ['hello file']);
  assert.equal(file, `${out.lines[0]}\n`);
  assert.doesNotMatch(file, /pw-secret|below the level/);
  assert.deepEqual(logFiles(path.join(data, 'logs')), ['agent.1.log']);
});

test('rotation by size keeps at most `files` files, the newest lines included', async () => {
  const data = tmp();
  const dir = path.join(data, 'logs');
  const out = stdoutCapture();
  const { log, files } = createAgentLogger('info', data, { maxBytes: 4096, files: 3 }, out.stream);
  assert.ok(files);
  const seen = new Set<number>();
  const pad = 'x'.repeat(150);
  for (let i = 0; i < 400; i++) {
    log.info({ i, pad }, 'line');
    // The agent logs in bursts; the file rotates when a burst is written (SonicBoom's 'drain').
    if (i % 10 === 9) {
      await waitFor('the burst written', () => files.pendingBytes === 0, 5000, 5);
      seen.add(logFiles(dir).length);
    }
  }
  await waitFor('rotation and cleanup', () => {
    const f = logFiles(dir);
    return f.length === 3 && readAll(dir).includes('"i":399,') ? f : null;
  }, 10_000, 20);
  await files.close();
  const names = logFiles(dir);
  // At least 400 × ~230 B / 4 KiB ≈ 22 rotations happened; only the 3 newest files remain.
  assert.ok(Number(names[2]!.split('.')[1]) >= 15, names.join(' '));
  assert.ok(Math.max(...seen) <= 4, `files seen while logging: ${[...seen].join(',')}`); // the new one before the cleanup
  for (const f of names) assert.ok(fs.statSync(path.join(dir, f)).size <= 4096 + 512, `${f}: ${fs.statSync(path.join(dir, f)).size}`);
  assert.equal(out.lines.length, 400);
});

test('a full disk: stdout gets every line, the error is reported once, the file resumes when space is back', async (t) => {
  const data = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', data]);
  t.after(() => execFileSync('umount', ['-l', data]));
  const dir = path.join(data, 'logs');
  const out = stdoutCapture();
  const { log, files } = createAgentLogger('info', data, { bufferBytes: 16 * 1024 }, out.stream);
  assert.ok(files);
  log.info('before the disk filled');
  await waitFor('first line in the file', () => readAll(dir).includes('before the disk filled'), 5000, 20);
  // Fill the tmpfs to its last byte.
  const filler = path.join(data, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 1);
  assert.throws(() => {
    for (;;) fs.writeSync(fd, chunk);
  }, /ENOSPC/);
  fs.closeSync(fd);

  const pad = 'y'.repeat(200);
  for (let i = 0; i < 300; i++) {
    log.info({ i, pad }, 'while full');
    if (i % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor('the error report', () => out.msgs().includes('log file cannot be written: logging on stdout only until it can'), 5000, 20);
  for (let i = 0; i < 50; i++) {
    log.info({ i }, 'still full');
    await new Promise((r) => setImmediate(r));
  }
  const reports = out.lines.filter((l) => l.includes('log file cannot be written'));
  assert.equal(reports.length, 1, reports.join('\n'));
  assert.match(reports[0]!, /"code":"ENOSPC"/);
  assert.equal(out.msgs().filter((m) => m === 'while full').length, 300);
  assert.equal(out.msgs().filter((m) => m === 'still full').length, 50);
  assert.ok(files.errors > 1, `errors seen: ${files.errors}`);

  fs.rmSync(filler);
  log.info('space is back');
  await waitFor('a line in the file again', () => {
    log.info('space is back, again');
    return readAll(dir).includes('space is back');
  }, 10_000, 50);
  await waitFor('the recovery report', () => out.lines.find((l) => l.includes('log file writable again')), 5000, 20);
  await files.close();
});

test('a restart appends to the newest file and removes the files beyond the count (names kept from pino-roll)', async () => {
  const data = tmp();
  const dir = path.join(data, 'logs');
  fs.mkdirSync(dir);
  for (let k = 3; k <= 9; k++) fs.writeFileSync(path.join(dir, `agent.${k}.log`), `old ${k}\n`);
  fs.writeFileSync(path.join(dir, 'agent.x.log'), 'not ours\n');
  const out = stdoutCapture();
  const { log, files } = createAgentLogger('info', data, { maxBytes: 4096, files: 3 }, out.stream);
  assert.ok(files);
  log.info('after the restart');
  await waitFor('line in the newest file', () => fs.readFileSync(path.join(dir, 'agent.9.log'), 'utf8').includes('after the restart'), 5000, 20);
  await waitFor('older files removed', () => logFiles(dir).join(' ') === 'agent.7.log agent.8.log agent.9.log', 5000, 20);
  await files.close();
  assert.match(fs.readFileSync(path.join(dir, 'agent.9.log'), 'utf8'), /^old 9\n\{/);
  assert.ok(fs.existsSync(path.join(dir, 'agent.x.log')), 'a file that is not one of ours stays');
});

test('a data dir read-only at start: the files are opened later, once it is writable again (both kinds of failed open)', async (t) => {
  const data = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', data]);
  t.after(() => execFileSync('umount', ['-l', data]));
  // logs/ missing (its mkdir fails at once) and logs/ present (the file's open fails after the start).
  for (const [name, premade] of [['fresh', false], ['premade', true]] as const) {
    const dir = path.join(data, name, 'logs');
    fs.mkdirSync(premade ? dir : path.dirname(dir), { recursive: true });
    execFileSync('mount', ['-o', 'remount,ro', data]);
    const out = stdoutCapture();
    const { log, files } = createAgentLogger('info', path.join(data, name), { reopenEveryMs: 200 }, out.stream);
    log.info('while read-only');
    await waitFor('the error report', () => out.lines.find((l) => /cannot be (opened|written)/.test(l)), 5000, 20);
    execFileSync('mount', ['-o', 'remount,rw', data]);
    await waitFor(`${name}: a line in the file`, () => {
      log.info('writable again');
      return readAll(dir).includes('writable again');
    }, 5000, 50);
    assert.equal(out.lines.filter((l) => /cannot be (opened|written)/.test(l)).length, 1, `${name}: reported once`);
    assert.ok(out.msgs().includes('log file writable again'), name);
    assert.equal(out.msgs().filter((m) => m === 'while read-only').length, 1, 'stdout had it');
    await files.close();
  }
});
