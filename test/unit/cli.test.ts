// The operator CLI as a person runs it (`node --import tsx src/main.ts …`, no Docker): user errors are
// one line on stderr, never a stack trace; exit 2 for a wrong command line or input, 3 with no agent running,
// 1 when the agent refuses or says unhealthy. Tables for people, --json for scripts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { emptyState } from '../../src/store/schema.js';

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
  return cliEnv(dataDir, args, {}, stdin);
}

function cliEnv(dataDir: string, args: string[], env: Record<string, string>, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', tsx, path.join(root, 'src/main.ts'), ...args], {
      // Never the machine's Docker socket: `logs` and `doctor` find no engine here.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ORCH_DATA_DIR: dataDir, ORCH_CLOUD_URL: 'off', DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env },
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

test('with no agent running every command that needs it says so in one line, exit 3', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(payload));
  for (const [args, stdin] of [
    [['apply', '-f', 'ok.json']],
    [['apply', 'ok.json']],
    [['apply', '-'], JSON.stringify(payload)],
    [['plan']],
    [['health']],
    [['health', '--json']],
    [['stop', 'plc-cli']],
    [['delete', 'plc-cli', '--json']],
    [['state']], // no state file to fall back on either
  ] as [string[], string?][]) {
    const r = await cli(dir, args, stdin);
    oneLine(r, /^orchestrator-agent: agent not running \(no .*agent\.sock\)$/);
    assert.equal(r.code, 3, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
  }
});

test('logs: a wrong command line is exit 2, an engine that cannot be reached one line and exit 1', async () => {
  const dir = tmp();
  for (const [args, re] of [
    [['logs'], /^orchestrator-agent: logs needs a runtime name/],
    [['logs', 'a', 'b'], /^orchestrator-agent: logs takes one runtime name; unexpected: b/],
    [['logs', 'a', '--tail'], /^orchestrator-agent: logs: Option '-n, --tail <value>' argument missing/],
    [['logs', 'a', '--tail', 'ten'], /^orchestrator-agent: logs: --tail needs a number of lines or all, got "ten"/],
    [['logs', 'a', '--since', 'yesterday'], /^orchestrator-agent: logs: --since needs a duration/],
    [['logs', 'a', '--agent'], /^orchestrator-agent: logs takes one of a runtime name, --agent or --netmon/],
    [['logs', 'a', '--until', '1h'], /^orchestrator-agent: logs: unknown option --until/],
  ] as [string[], RegExp][]) {
    const r = await cli(dir, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /^ {4}at /m);
  }
  const r = await cli(dir, ['logs', 'plc-1', '-f', '--tail', '10']);
  oneLine(r, /^orchestrator-agent: unix:\/\/\/nonexistent\/docker\.sock: cannot read plc-1: .*ENOENT/);
  assert.equal(r.code, 1);
});

test('a wrong command line: the reason and the usage, exit 2, no stack', async () => {
  const dir = tmp();
  for (const [args, re] of [
    [['apply'], /^orchestrator-agent: apply needs a file/],
    [['apply', '-f'], /^orchestrator-agent: apply: Option '-f, --filename <value>' argument missing/],
    [['apply', '--dry-rnu', 'a.json'], /^orchestrator-agent: apply: unknown option --dry-rnu$/m],
    [['stop', '--force', '-x', 'a'], /^orchestrator-agent: stop: unknown option --force, -x$/m],
    [['state', '-o', 'yaml'], /^orchestrator-agent: state: -o takes json, got "yaml"/],
    [['version', 'extra'], /^orchestrator-agent: version takes no argument; unexpected: extra/],
    [['apply', 'a.json', 'b.json'], /^orchestrator-agent: apply takes one file; unexpected: b\.json/],
    [['delete'], /^orchestrator-agent: delete needs a runtime name/],
    [['stop', 'a', 'b'], /^orchestrator-agent: stop takes one runtime name; unexpected: b/],
    [['plan', 'x'], /^orchestrator-agent: plan takes no argument; unexpected: x/],
    [['frobnicate'], /^orchestrator-agent: unknown command "frobnicate"/],
  ] as [string[], RegExp][]) {
    const r = await cli(dir, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.match(r.stderr, /^run `orchestrator-agent (\S+ )?--help` for the usage$/m);
    assert.doesNotMatch(r.stderr, /^ {4}at /m);
  }
});

/** A stand-in agent on agent.sock: one request line, one answer line from `answer`. */
async function standIn(dir: string, answer: (req: { command: string }) => unknown) {
  const got: unknown[] = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (!buf.includes('\n')) return;
      const req = JSON.parse(buf.slice(0, buf.indexOf('\n'))) as { command: string };
      got.push(req);
      s.end(`${JSON.stringify(answer(req))}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'agent.sock'), resolve));
  return { got, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('apply and apply -f send the file to the agent: one line for people, the answer as JSON with --json', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(payload));
  const agent = await standIn(dir, () => ({ success: true, result: 'created' }));
  try {
    for (const args of [['apply', '-f', 'ok.json'], ['apply', 'ok.json']]) {
      const r = await cli(dir, args);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'plc-cli: created\n', '']);
    }
    const j = await cli(dir, ['apply', '--json', '-f', 'ok.json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout), { result: 'created' });
    assert.deepEqual(agent.got, [1, 2, 3].map(() => ({ command: 'apply', runtime: payload })));
  } finally {
    await agent.close();
  }
});

test('mutations, plan and health: a line or a table for people, JSON for scripts, exit 1 on a refusal or unhealthy', async () => {
  const dir = tmp();
  const agent = await standIn(dir, (req) => {
    const r = req as { command: string; name?: string };
    if (r.name === 'nope') return { success: false, error: 'runtime nope not found' };
    if (r.command === 'plan') return { success: true, steps: [{ device: 'plc-1', action: 'create', reason: 'no container' }, { device: null, action: 'remove-network', reason: 'orphan' }] };
    if (r.command === 'health') return { success: true, healthy: false, problems: ['reconciler wedged: no completed pass for 200 s (limit 90 s)'], lastPassAt: null };
    return { success: true };
  });
  try {
    const stop = await cli(dir, ['stop', 'plc-1']);
    assert.deepEqual([stop.code, stop.stdout], [0, 'plc-1: stop requested\n']);
    const del = await cli(dir, ['delete', 'plc-1', '--json']);
    assert.deepEqual([del.code, JSON.parse(del.stdout)], [0, {}]);
    const nope = await cli(dir, ['restart', 'nope']);
    assert.deepEqual([nope.code, nope.stdout, nope.stderr], [1, '', 'orchestrator-agent: runtime nope not found\n']);
    const nopeJson = await cli(dir, ['start', 'nope', '--json']);
    assert.equal(nopeJson.code, 1);
    assert.deepEqual(JSON.parse(nopeJson.stdout), { success: false, error: 'runtime nope not found' });
    const plan = await cli(dir, ['plan']);
    assert.equal(plan.code, 0);
    assert.equal(plan.stdout, 'RUNTIME  ACTION          REASON\nplc-1    create          no container\n-        remove-network  orphan\n');
    const planJson = JSON.parse((await cli(dir, ['plan', '--json'])).stdout) as { steps: unknown[] };
    assert.equal(planJson.steps.length, 2);
    const health = await cli(dir, ['health']);
    assert.deepEqual([health.code, health.stdout], [1, 'unhealthy: reconciler wedged: no completed pass for 200 s (limit 90 s)\n']);
    const healthJson = await cli(dir, ['health', '--json']);
    assert.equal(healthJson.code, 1);
    assert.equal((JSON.parse(healthJson.stdout) as { healthy: boolean }).healthy, false);
    assert.deepEqual(agent.got.slice(0, 4), [{ command: 'stop', name: 'plc-1' }, { command: 'delete', name: 'plc-1' }, { command: 'restart', name: 'nope' }, { command: 'start', name: 'nope' }]);
  } finally {
    await agent.close();
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

test('version and --version print the version and the commit, without a config or an agent', async () => {
  const dir = tmp();
  const pkg = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  for (const arg of ['version', '--version']) {
    const r = await cli(dir, [arg]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `orchestrator-agent ${pkg} (commit unknown)\n`, '']);
  }
});

test('--help on every command prints its usage, exit 0, and does nothing (stop --help stops no runtime named --help)', async () => {
  const dir = tmp();
  const agent = await standIn(dir, () => ({ success: true }));
  try {
    for (const cmd of ['run', 'state', 'plan', 'health', 'doctor', 'apply', 'validate', 'delete', 'start', 'stop', 'restart', 'logs', 'support-bundle', 'version']) {
      for (const args of [[cmd, '--help'], [cmd, 'plc-1', '-h'], ['help', cmd]]) {
        const r = await cli(dir, args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        assert.ok(r.stdout.startsWith(`usage: orchestrator-agent ${cmd}`), `${args.join(' ')}: ${r.stdout}`);
        assert.equal(r.stderr, '');
      }
    }
    assert.deepEqual(agent.got, []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['agent.sock']); // nothing written (no bundle, no logs dir)
  } finally {
    await agent.close();
  }
});

test('-o json is --json: the same answer for scripts', async () => {
  const dir = tmp();
  const agent = await standIn(dir, () => ({ success: true, steps: [] }));
  try {
    const a = await cli(dir, ['plan', '-o', 'json']);
    const b = await cli(dir, ['plan', '--json']);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(JSON.parse(a.stdout), { steps: [] });
    assert.equal(a.stdout, b.stdout);
    assert.deepEqual(JSON.parse((await cli(dir, ['stop', 'plc-1', '-ojson'])).stdout), { steps: [] });
  } finally {
    await agent.close();
  }
});

test('apply refuses unknown fields by name, before the agent is asked; the agent\'s own rules apply offline (exit 2)', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'typo.json'), JSON.stringify({ ...payload, runtime_verison: 'v2', vnic_configs: [{ ...payload.vnic_configs[0], adress: '198.51.100.4' }] }));
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...payload, container_name: 'x' }));
  const agent = await standIn(dir, () => ({ success: true, result: 'created' }));
  try {
    const r = await cli(dir, ['apply', 'typo.json']);
    oneLine(r, /^orchestrator-agent: apply: typo\.json: unknown fields runtime_verison, vnic_configs\[0\]\.adress$/);
    assert.equal(r.code, 2);
    const b = await cli(dir, ['apply', 'bad.json']);
    oneLine(b, /^orchestrator-agent: apply: bad\.json: container_name: must match /);
    assert.equal(b.code, 2);
    assert.deepEqual(agent.got, []);
  } finally {
    await agent.close();
  }
});

test('apply --dry-run and validate: checked with no agent running, what would be declared shown, nothing sent or written', async () => {
  const dir = tmp();
  // A payload copied from a cloud message keeps its envelope fields (CONTRACT §4): accepted. A BOM too.
  fs.writeFileSync(path.join(dir, 'ok.json'), `\uFEFF${JSON.stringify({ ...payload, correlation_id: 7, runtime_version: 'v4.1' })}`);
  for (const args of [['apply', '--dry-run', 'ok.json'], ['validate', 'ok.json'], ['apply', '-f', 'ok.json', '--dry-run']]) {
    const r = await cli(dir, args);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'plc-cli: valid; would declare image tag v4.1\n  vnic eth0 on eth0: dhcp\n', ''], args.join(' '));
  }
  const j = await cli(dir, ['validate', '-o', 'json', '-'], fs.readFileSync(path.join(dir, 'ok.json'), 'utf8'));
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), { valid: true, spec: { name: 'plc-cli', runtimeVersion: 'v4.1', vnics: [{ name: 'eth0', parentInterface: 'eth0', mode: 'dhcp', dns: [] }] } });
  assert.deepEqual(fs.readdirSync(dir), ['ok.json']);
});

test('apply input: capped at the agent\'s 4 MiB (apply /dev/zero stops at once), a 5,000-deep array one line', async () => {
  const dir = tmp();
  const zero = await cli(dir, ['apply', '/dev/zero']);
  oneLine(zero, /^orchestrator-agent: apply: \/dev\/zero: cannot read: larger than 4 MiB, the most the agent takes in one request$/);
  assert.equal(zero.code, 2);
  const big = await cli(dir, ['apply', '-'], `{"container_name": "${'a'.repeat(4 * 2 ** 20)}"}`);
  oneLine(big, /^orchestrator-agent: apply: \(stdin\): cannot read: larger than 4 MiB/);
  fs.writeFileSync(path.join(dir, 'deep.json'), `${'['.repeat(5000)}${']'.repeat(5000)}`);
  // Built as text: the test's own JSON.stringify would overflow on it.
  fs.writeFileSync(path.join(dir, 'deep-field.json'), `{"container_name": "plc-cli", "vnic_configs": ${'['.repeat(5000)}${']'.repeat(5000)}}`);
  for (const f of ['deep.json', 'deep-field.json']) {
    const r = await cli(dir, ['apply', f]);
    oneLine(r, new RegExp(`^orchestrator-agent: apply: ${f.replace('.', '\\.')}: `));
    assert.equal(r.code, 2, f);
  }
});

/** A state file as the agent writes it, with one runtime. */
function writeStateFile(dir: string): void {
  const spec = { name: 'plc-a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth0', mode: 'dhcp', dns: [] }] };
  const status = { phase: 'Running', observedGeneration: 2, conditions: [], lastError: null, restartCount: 0, crashCount: 0, backoffUntil: null, lastStartedAt: null, endpoints: { 'macvlan_eth0_198.51.100.0_24': { ip: '198.51.100.7', mac: '02:42:c6:33:64:07' } } };
  const state = { ...emptyState(), runtimes: { 'plc-a': { spec, generation: 2, running: true, restartCount: 0, deletion: null, createdAt: new Date().toISOString(), status } } };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
}

test('state: one line per runtime; state NAME the details of one; an unknown NAME exit 1', async () => {
  const dir = tmp();
  writeStateFile(dir);
  const list = await cli(dir, ['state']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, 'NAME   DESIRED  PHASE    GENERATION  IMAGE TAG  ADDRESSES\nplc-a  running  Running  2/2         latest     198.51.100.7\n');
  const one = await cli(dir, ['state', 'plc-a']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^plc-a\n {2}desired {3}running, generation 2, image tag latest/);
  assert.match(one.stdout, /network {3}macvlan_eth0_198\.51\.100\.0_24 {2}ip 198\.51\.100\.7/);
  assert.equal((JSON.parse((await cli(dir, ['state', 'plc-a', '-o', 'json'])).stdout) as { runtime: { generation: number } }).runtime.generation, 2);
  const none = await cli(dir, ['state', 'nope']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^orchestrator-agent: runtime nope not found$/m);
});

test('read-only commands do not fail on a bad setting they do not use; DOCKER_HOST=garbage is one line', async () => {
  const dir = tmp();
  writeStateFile(dir);
  const bad = { ORCH_WEBRTC_ICE_SERVERS: 'bad', ORCH_CLOUD_TRANSPORTS: 'carrier-pigeon', ORCH_RUNTIME_PORT: 'x' };
  const s = await cliEnv(dir, ['state'], bad);
  assert.equal(s.code, 0, s.stderr);
  const l = await cliEnv(dir, ['logs', 'plc-a'], bad);
  oneLine(l, /^orchestrator-agent: unix:\/\/\/nonexistent\/docker\.sock: cannot read plc-a: /);
  assert.equal(l.code, 1);
  const v = await cliEnv(dir, ['validate', '-'], bad, JSON.stringify(payload));
  assert.equal(v.code, 0, v.stderr);
  // `run` uses every setting: refused there, one line, exit 2.
  const run = await cliEnv(dir, ['run'], bad);
  oneLine(run, /^orchestrator-agent: invalid configuration: ORCH_RUNTIME_PORT: /);
  assert.equal(run.code, 2);
  for (const args of [['logs', 'plc-a'], ['logs', '--netmon']]) {
    const g = await cliEnv(dir, args, { DOCKER_HOST: 'garbage' });
    oneLine(g, /^orchestrator-agent: DOCKER_HOST: expected unix:\/\/\/path or tcp:\/\/host:port, got "garbage"$/);
    assert.equal(g.code, 1);
  }
});

test('logs --agent: the agent\'s files oldest first, --since by each line\'s time, --tail N and all', async () => {
  const dir = tmp();
  const none = await cli(dir, ['logs', '--agent']);
  oneLine(none, /^orchestrator-agent: no agent log files in .*logs \(agent\.<n>\.log/);
  assert.equal(none.code, 1);
  fs.mkdirSync(path.join(dir, 'logs'));
  const now = Date.now();
  const line = (ageS: number, msg: string) => JSON.stringify({ level: 30, time: now - ageS * 1000, msg });
  // agent.10.log is newer than agent.9.log: numbers, not text order.
  fs.writeFileSync(path.join(dir, 'logs', 'agent.9.log'), `${line(7200, 'old')}\n${line(1800, 'half an hour ago')}\n`);
  fs.writeFileSync(path.join(dir, 'logs', 'agent.10.log'), `${line(60, 'a minute ago')}\n${line(1, 'now')}\n`);
  const msgs = (out: string) => out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
  const all = await cli(dir, ['logs', '--agent', '--tail', 'all']);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(msgs(all.stdout), ['old', 'half an hour ago', 'a minute ago', 'now']);
  assert.deepEqual(msgs((await cli(dir, ['logs', '--agent', '-n', '3'])).stdout), ['half an hour ago', 'a minute ago', 'now']);
  assert.deepEqual(msgs((await cli(dir, ['logs', '--agent', '--since', '1h'])).stdout), ['half an hour ago', 'a minute ago', 'now']);
  assert.deepEqual(msgs((await cli(dir, ['logs', '--agent', '--since', '10m', '--tail', '1'])).stdout), ['now']);
  assert.deepEqual(msgs((await cli(dir, ['logs', '--agent', '--since', new Date(now - 120_000).toISOString()])).stdout), ['a minute ago', 'now']);
});
