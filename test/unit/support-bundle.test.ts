// The support bundle's pieces: the tar writer (read back by the system `tar`), the redaction of values
// and text, and a bundle made with neither agent nor engine (what it could get, plus errors.txt).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { redactLogLines, redactText, redactValue } from '../../src/cli/redact.js';
import { supportBundle } from '../../src/cli/support-bundle.js';
import { tarGz } from '../../src/cli/tar.js';
import { loadConfig } from '../../src/config.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
const EC_PEM = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBc\n-----END EC PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3gtMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

test('tar: the system tar lists and extracts every file with its exact bytes (including one past 512 bytes and an empty one)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-tar-'));
  try {
    const big = Buffer.alloc(1300, 'x');
    const file = path.join(dir, 'b.tar.gz');
    fs.writeFileSync(file, tarGz([{ name: 'b/one.txt', data: Buffer.from('hello\n') }, { name: 'b/logs/big.log', data: big }, { name: 'b/empty', data: Buffer.alloc(0) }]));
    assert.deepEqual(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n'), ['b/one.txt', 'b/logs/big.log', 'b/empty']);
    execFileSync('tar', ['-xzf', file, '-C', dir]);
    assert.equal(fs.readFileSync(path.join(dir, 'b/one.txt'), 'utf8'), 'hello\n');
    assert.deepEqual(fs.readFileSync(path.join(dir, 'b/logs/big.log')), big);
    assert.equal(fs.statSync(path.join(dir, 'b/empty')).size, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('redaction: secret names at any depth, PEM private keys, JWTs, run_command bodies, secret env values; the rest stays readable', () => {
  const v = redactValue({
    token: 't0ps3cret',
    nested: { deeper: { password: 'hunter2', Authorization: 'Bearer x' } },
    key: 'runtime/plc1',
    tls: { key: PEM, cert: '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----' },
    msg: `got ${JWT} from the cloud`,
    request: { method: 'POST', body: '{"user":"admin","password":"x"}' },
    Config: { Env: ['ORCH_TEST_SECRET=s3cr3t-value', 'PATH=/usr/bin', 'API_TOKEN=abc'] },
    text: `key follows\n${EC_PEM}\nend`,
  }) as { key: string; msg: string; text: string; request: { method: string }; Config: { Env: string[] } };
  const s = JSON.stringify(v);
  for (const secret of ['t0ps3cret', 'hunter2', 'Bearer x', 'MIIEvQ', 'MHcCAQ', 'eyJ', 'admin', 's3cr3t-value', 'abc"']) assert.ok(!s.includes(secret), `${secret} in ${s}`);
  assert.equal(v.key, 'runtime/plc1');
  assert.equal(v.request.method, 'POST');
  assert.deepEqual(v.Config.Env, ['ORCH_TEST_SECRET=[Redacted]', 'PATH=/usr/bin', 'API_TOKEN=[Redacted]']);
  assert.equal(v.msg, 'got [Redacted] from the cloud');
  assert.equal(v.text, 'key follows\n-----BEGIN EC PRIVATE KEY----- [Redacted] -----END EC PRIVATE KEY-----\nend');
  assert.equal(redactText(`a ${PEM} b`), 'a -----BEGIN PRIVATE KEY----- [Redacted] -----END PRIVATE KEY----- b');
  assert.equal(redactLogLines(`{"level":30,"jwt":"${JWT}","msg":"ok"}\nplain ${JWT}\n`), '{"level":30,"jwt":"[Redacted]","msg":"ok"}\nplain [Redacted]\n');
});

test('support-bundle with no agent and no engine: versions, doctor, the state file, the log files, and errors.txt naming what is missing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-bundle-'));
  try {
    const data = path.join(dir, 'data');
    fs.mkdirSync(path.join(data, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(data, 'state.json'), JSON.stringify({ schemaVersion: 1, agent: { uninstall: null }, runtimes: {}, host: { interfaces: [], observedAt: null, stale: true } }));
    fs.writeFileSync(path.join(data, 'logs', 'agent.1.log'), `{"level":30,"msg":"hello"}\n${PEM}\n`);
    const config = loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: data, DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    const { file, errors } = await supportBundle(config, path.join(dir, 'out.tar.gz'));
    assert.ok(errors.some((e) => e.startsWith('docker version:')), errors.join('\n'));
    execFileSync('tar', ['-xzf', file, '-C', dir]);
    const b = path.join(dir, 'out');
    assert.deepEqual(fs.readdirSync(b).sort(), ['doctor.json', 'errors.txt', 'logs', 'netmon-facts.json', 'state.json', 'versions.json']);
    const doc = JSON.parse(fs.readFileSync(path.join(b, 'doctor.json'), 'utf8')) as { checks: { id: string; level: string }[] };
    assert.ok(doc.checks.some((c) => c.id === 'docker' && c.level === 'FAIL'));
    // doctor --json ids: kebab-case and one per check.
    for (const c of doc.checks) assert.match(c.id, /^[a-z]+(-[a-z]+)*$/);
    assert.equal(new Set(doc.checks.map((c) => c.id)).size, doc.checks.length);
    assert.ok(doc.checks.some((c) => c.id === 'state-file' && c.level === 'OK'));
    const log = fs.readFileSync(path.join(b, 'logs/agent.1.log'), 'utf8');
    assert.match(log, /"msg":"hello"/);
    assert.doesNotMatch(log, /MIIEvQ/);
    assert.match(fs.readFileSync(path.join(b, 'errors.txt'), 'utf8'), /^plan: left out, the agent is not running$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
