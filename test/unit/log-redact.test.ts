// The log masks secrets and nothing else: a reconciler step still names its `key`, while TLS key
// material, Authorization/Cookie header values and passwords never reach the output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { registerTopics } from '../../src/sources/cloud/router.js';
import type { TopicContext } from '../../src/sources/cloud/topic.js';
import { TOPICS } from '../../src/sources/cloud/topics/index.js';
import type { Socket } from 'socket.io-client';
import { waitFor } from '../support/wait.js';

function capture() {
  const chunks: string[] = [];
  const log = createLogger('info', {}, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }));
  return { log, text: () => chunks.join('') };
}

function tlsMaterial(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-redact-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=t'], { cwd: dir, stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'k.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'c.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a reconciler step line keeps its key; secrets are masked wherever they sit', () => {
  const { log, text } = capture();
  const { key, cert } = tlsMaterial();
  const keyBody = key.split('\n')[1]!; // a line of the base64 key itself
  // As the controller logs a step (child bindings), and a plain `key` field.
  log.child({ device: 'plc1', key: 'runtime/plc1' }).info({ action: 'create', reason: 'missing' }, 'create');
  log.info({ key: 'network/macvlan_eth1' }, 'step');
  // TLS material under any name, as a string, a Buffer or in a list.
  log.info({ key, cert }, 'pem at the top');
  log.info({ credentials: { key: Buffer.from(key), cert: Buffer.from(cert), ca: [cert] } }, 'credentials');
  log.info({ tls: { privateKey: key } }, 'nested');
  // Request data as a handler might log it, in either header case, up to two levels down.
  log.info({ headers: { Authorization: 'Bearer top-secret-1', cookie: 'session=top-secret-2' } }, 'headers');
  log.info({ request: { headers: { authorization: 'Bearer top-secret-3' }, data: { username: 'u', password: 'top-secret-4' } } }, 'request');
  log.info({ cmd: { http: { headers: { 'Set-Cookie': 'top-secret-5' } } } }, 'deep');
  log.info({ login: { access_token: 'top-secret-6', jwt: 'top-secret-7' }, token: 'top-secret-8' }, 'tokens');
  // A debug session's and a TURN server's credentials, a bare authorization value.
  log.info({ session: { credentials: { username: 'dbg', password: 'top-secret-9' } }, ice: [{ urls: 'turn:t', username: 'u', credential: 'top-secret-10' }], authorization: 'Bearer top-secret-11' }, 'debug');
  const out = text();
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines[0]!.key, 'runtime/plc1');
  assert.equal(lines[0]!.device, 'plc1');
  assert.equal(lines[1]!.key, 'network/macvlan_eth1');
  assert.ok(!out.includes(keyBody), 'no TLS key material');
  assert.ok(!out.includes('BEGIN'), 'no PEM at all');
  for (let i = 1; i <= 11; i++) assert.ok(!out.includes(`top-secret-${i}`), `secret ${i} masked`);
  assert.equal((lines[6]!.request as { data: { username: string } }).data.username, 'u', 'what is not a secret stays');
  assert.ok(out.includes('[Redacted]'));
});

test('the router logs no header value or body of a run_command request', async () => {
  const { log, text } = capture();
  // A socket stand-in: run_command is delivered as socket.io-client would, with an ack callback.
  const handlers = new Map<string, (...a: unknown[]) => void>();
  const socket = {
    connected: true,
    on: (e: string, h: (...a: unknown[]) => void) => handlers.set(e, h),
    onAny: () => undefined,
    listeners: (e: string) => (handlers.has(e) ? [handlers.get(e)] : []),
    emit: () => true,
  } as unknown as Socket;
  const missing = Object.assign(new Error('no such container'), { statusCode: 404 });
  const docker = { getContainer: () => ({ inspect: () => Promise.reject(missing) }) };
  registerTopics(socket, TOPICS, { config: loadConfig({}), log, docker, store: { state: { runtimes: {} } } } as unknown as TopicContext);
  const acks: Record<string, unknown>[] = [];
  handlers.get('run_command')!(
    { correlation_id: 1, device_id: 'plc1', method: 'POST', api: '/api/login', headers: { Authorization: 'Bearer hdr-secret', Cookie: 'sid=cookie-secret' }, data: { username: 'u', password: 'pw-secret' } },
    (a: Record<string, unknown>) => acks.push(a),
  );
  handlers.get('run_command')!('plc1', { method: 'POST', api: 'api/login', headers: { authorization: 'Bearer v1-secret' }, data: 'password=form-secret' }, (a: Record<string, unknown>) => acks.push(a));
  await waitFor('both answered', () => acks.length === 2);
  assert.equal(acks[0]!.error, 'Device not found: plc1');
  const out = text();
  assert.match(out, /request answered/);
  for (const s of ['hdr-secret', 'cookie-secret', 'pw-secret', 'v1-secret', 'form-secret']) assert.ok(!out.includes(s), `${s} not logged`);
});
