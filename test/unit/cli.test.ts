// The operator CLI as a person runs it (`node --import tsx src/main.ts …`, no Docker): user errors are
// one line on stderr, never a stack trace; exit 2 for a wrong command line or input.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
// Resolved here, as the CLI runs with its cwd in a temp dir where `tsx` alone would not be found.
const tsx = import.meta.resolve('tsx');
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cli-'));
  dirs.push(d);
  return d;
};

const payload = { container_name: 'plc-cli', vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp' }] };

function cli(dataDir: string, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', tsx, path.join(root, 'src/main.ts'), ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ORCH_DATA_DIR: dataDir, ORCH_CLOUD_URL: 'off' },
      cwd: dataDir,
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.stdin.end(stdin ?? '');
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Exactly one line on stderr, matching `re`, and no stack frame. */
function oneLine(r: { stderr: string }, re: RegExp): void {
  assert.doesNotMatch(r.stderr, /^ {4}at /m, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
}

test('apply of a missing file: one line naming the file, exit 2', async () => {
  const dir = tmp();
  for (const args of [['apply', 'missing.json'], ['apply', '-f', 'missing.json']]) {
    const r = await cli(dir, args);
    oneLine(r, /^orchestrator-agent: apply: missing\.json: cannot read: no such file$/);
    assert.equal(r.code, 2, args.join(' '));
  }
  const r = await cli(dir, ['apply', dir]);
  oneLine(r, /cannot read: is a directory/);
  assert.equal(r.code, 2);
});

test('apply of invalid JSON (a file or stdin): one line, exit 2', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"container_name": "plc-1",');
  const file = await cli(dir, ['apply', 'bad.json']);
  oneLine(file, /^orchestrator-agent: apply: bad\.json: not valid JSON \(.+\)$/);
  assert.equal(file.code, 2);
  const stdin = await cli(dir, ['apply', '-f', '-'], 'not json');
  oneLine(stdin, /^orchestrator-agent: apply: \(stdin\): not valid JSON/);
  assert.equal(stdin.code, 2);
});

test('apply -f of a valid file with no agent running: one line saying so, non-zero exit', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(payload));
  for (const [args, stdin] of [[['apply', '-f', 'ok.json']], [['apply', 'ok.json']], [['apply', '-'], JSON.stringify(payload)]] as [string[], string?][]) {
    const r = await cli(dir, args, stdin);
    oneLine(r, /^orchestrator-agent: agent not running \(no .*agent\.sock\)$/);
    assert.notEqual(r.code, 0, args.join(' '));
  }
});

test('a wrong command line: the reason and the usage, exit 2, no stack', async () => {
  const dir = tmp();
  for (const [args, re] of [
    [['apply'], /^orchestrator-agent: apply needs a file/],
    [['apply', '-f'], /^orchestrator-agent: apply -f needs a file/],
    [['apply', 'a.json', 'b.json'], /^orchestrator-agent: apply takes one file; unexpected: b\.json/],
    [['delete'], /^orchestrator-agent: delete needs a runtime name/],
    [['frobnicate'], /^orchestrator-agent: unknown command "frobnicate"/],
  ] as [string[], RegExp][]) {
    const r = await cli(dir, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.match(r.stderr, /^usage: orchestrator-agent/m);
    assert.doesNotMatch(r.stderr, /^ {4}at /m);
  }
});

test('apply and apply -f send the file to the agent, and show its answer', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(payload));
  const got: unknown[] = [];
  // A stand-in agent on agent.sock: one request line, one answer line.
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (!buf.includes('\n')) return;
      got.push(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      s.end(`${JSON.stringify({ success: true, result: 'created', name: 'plc-cli' })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'agent.sock'), resolve));
  try {
    for (const args of [['apply', '-f', 'ok.json'], ['apply', 'ok.json']]) {
      const r = await cli(dir, args);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { result: 'created', name: 'plc-cli' });
    }
    assert.deepEqual(got, [{ command: 'apply', runtime: payload }, { command: 'apply', runtime: payload }]);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('an agent that hangs up without answering, and a broken state file with the agent down: one line each', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(payload));
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'agent.sock'), resolve));
  try {
    const r = await cli(dir, ['apply', 'ok.json']);
    oneLine(r, /^orchestrator-agent: the agent closed .*agent\.sock without answering$/);
    assert.equal(r.code, 1);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  fs.writeFileSync(path.join(dir, 'state.json'), '{"schemaVersion": 1');
  const s = await cli(dir, ['state']);
  oneLine(s, /^orchestrator-agent: agent not running, and .*state\.json cannot be read: /);
  assert.equal(s.code, 2);
});
