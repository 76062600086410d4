// ORCH_MAX_ACK_BYTES (CONTRACT §2, §4, §5.4): the size check itself, and the router over a real
// loopback Socket.IO server left at its defaults (a 1 MB packet limit), as a cloud runs it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { DEFAULT_MAX_ACK_BYTES, loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { requestRuntime } from '../../src/runtime-api/runtime-http.js';
import { fitAck, jsonBytes } from '../../src/sources/cloud/ack-size.js';
import { sendEvent } from '../../src/sources/cloud/outgoing.js';
import { registerTopics } from '../../src/sources/cloud/router.js';
import type { Topic, TopicContext } from '../../src/sources/cloud/topic.js';
import { waitFor } from '../support/wait.js';

const LIMIT = DEFAULT_MAX_ACK_BYTES;

test('config: ORCH_MAX_ACK_BYTES defaults to 999000 and rejects what is not a size', () => {
  assert.equal(loadConfig({}).maxAckBytes, 999_000);
  assert.equal(loadConfig({ ORCH_MAX_ACK_BYTES: '500000' }).maxAckBytes, 500_000);
  assert.throws(() => loadConfig({ ORCH_MAX_ACK_BYTES: '1mb' }), /ORCH_MAX_ACK_BYTES: must be a whole number of bytes, at least 1024, got "1mb"/);
  assert.throws(() => loadConfig({ ORCH_MAX_ACK_BYTES: '100' }), /ORCH_MAX_ACK_BYTES: /);
});

test('jsonBytes counts UTF-8 bytes of the JSON, not characters', () => {
  assert.equal(jsonBytes({ a: 'é' }), '{"a":"é"}'.length + 1);
  assert.equal(jsonBytes('a'.repeat(10)), 12);
});

test('an answer that fits is sent as it is, to the byte', () => {
  const answer = { action: 'x', correlation_id: 1, status: 'success', data: '' };
  answer.data = 'a'.repeat(LIMIT - jsonBytes(answer));
  assert.equal(jsonBytes(answer), LIMIT);
  const f = fitAck(answer, LIMIT);
  assert.equal(f.replaced, false);
  assert.equal(f.ack, answer);
});

test('a too-large answer of any topic becomes a short error naming both sizes', () => {
  const answer = { action: 'get_agent_state', correlation_id: 'c-1', status: 'success', data: 'a'.repeat(LIMIT) };
  const f = fitAck(answer, LIMIT);
  assert.equal(f.replaced, true);
  assert.equal(f.bytes, jsonBytes(answer));
  assert.deepEqual(f.ack, { action: 'get_agent_state', correlation_id: 'c-1', status: 'error', error: `(agent): answer of ${jsonBytes(answer)} bytes exceeds ORCH_MAX_ACK_BYTES=${LIMIT} bytes` });
  // Multi-byte characters: fewer characters than the limit, more bytes.
  const wide = fitAck({ action: 'x', correlation_id: null, text: 'é'.repeat(LIMIT / 2 + 10) }, LIMIT);
  assert.equal(wide.replaced, true);
  assert.ok(jsonBytes(wide.ack) < 1000);
});

describe('run_command: a too-large runtime response', () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => res.end(Buffer.alloc(Number(new URL(req.url!, 'http://x').searchParams.get('bytes')), 97)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const get = (bytes: number) => requestRuntime({ url: new URL(`${base}/?bytes=${bytes}`), method: 'GET', headers: {}, body: null, timeoutMs: 5000 });

  test('becomes http_response 502 naming the body size as received and the limit', async () => {
    const hr = await get(2_000_000);
    const f = fitAck({ action: 'run_command', correlation_id: 7, status: 'success', http_response: hr }, LIMIT);
    assert.equal(f.replaced, true);
    assert.deepEqual(f.ack, {
      action: 'run_command', correlation_id: 7, status: 'error',
      http_response: { status_code: 502, headers: {}, body: { error: `response body of 2000000 bytes is too large for an ack of at most ORCH_MAX_ACK_BYTES=${LIMIT} bytes` }, ok: false, content_type: 'application/json' },
    });
  });

  test('a response that just fits passes whole', async () => {
    const probe = { action: 'run_command', correlation_id: 8, status: 'success', http_response: await get(100_000) };
    const overhead = jsonBytes(probe) - 100_000; // same digit count in content-length as below
    const hr = await get(LIMIT - overhead);
    const f = fitAck({ ...probe, http_response: hr }, LIMIT);
    assert.equal(jsonBytes({ ...probe, http_response: hr }), LIMIT);
    assert.equal(f.replaced, false);
    assert.equal((f.ack.http_response as { body: string }).body.length, LIMIT - overhead);
    const over = fitAck({ ...probe, http_response: await get(LIMIT - overhead + 1) }, LIMIT);
    assert.equal((over.ack.http_response as { status_code: number }).status_code, 502, 'one byte more does not fit');
  });
});

describe('the router on a Socket.IO server with default limits', () => {
  let httpServer: http.Server;
  let ioServer: Server;
  let client: Socket;
  let serverSide: ServerSocket;
  const lines: Record<string, unknown>[] = [];
  const events: { event: string; args: unknown[] }[] = [];
  let disconnects = 0;

  const big = (n: number) => 'a'.repeat(n);
  const topics: Topic[] = [
    { name: 'too_big', handle: () => Promise.resolve({ status: 'success', data: big(2_000_000) }) },
    { name: 'small', handle: (args) => Promise.resolve({ status: 'success', echo: args[0] }) },
    // Slow on purpose: were the unknown-topic fallback to answer a known topic, its error would win.
    { name: 'slow', handle: () => new Promise((r) => setTimeout(() => r({ status: 'success' }), 300)) },
    { name: 'big_legacy', handle: () => Promise.resolve({ status: 'success' }), legacyEmit: () => ['big_legacy', { data: big(1_200_000) }] },
  ];

  before(async () => {
    httpServer = http.createServer();
    ioServer = new Server(httpServer, { transports: ['websocket'], maxHttpBufferSize: 1e6 }); // Socket.IO's default, spelled out
    const connected = new Promise<ServerSocket>((r) => ioServer.on('connection', r));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
    const log = createLogger('info', {}, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
    const config = { ...loadConfig({}), legacyEmits: true } satisfies Config;
    client = io(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    registerTopics(client, topics, { config, log } as unknown as TopicContext);
    client.on('disconnect', () => disconnects++);
    serverSide = await connected;
    serverSide.onAny((event: string, ...args: unknown[]) => events.push({ event, args }));
  });
  after(async () => {
    client.disconnect();
    await new Promise<void>((r) => void ioServer.close(() => r()));
  });

  const call = (topic: string, ...args: unknown[]) => serverSide.timeout(5000).emitWithAck(topic, ...args) as Promise<Record<string, unknown>>;

  test('the server really drops a packet over 1 MB, and the connection with it', async () => {
    // Shown on a second client so the one under test stays up.
    const probe = io(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((r) => probe.on('connect', () => r()));
    const reason = new Promise((r) => probe.on('disconnect', r));
    probe.emit('x', big(1_000_001));
    assert.equal(await reason, 'transport close');
  });

  test('a 2 MB answer is replaced by an error naming both sizes; the link stays up', async () => {
    const id = client.id;
    const ack = await call('too_big', { correlation_id: 1 });
    assert.deepEqual(Object.keys(ack).sort(), ['action', 'correlation_id', 'error', 'status']);
    assert.equal(ack.status, 'error');
    assert.match(String(ack.error), /^\(agent\): answer of 20000\d\d bytes exceeds ORCH_MAX_ACK_BYTES=999000 bytes$/);
    assert.deepEqual(await call('small', { correlation_id: 2 }), { action: 'small', correlation_id: 2, status: 'success', echo: { correlation_id: 2 } });
    assert.equal(client.id, id);
    assert.equal(disconnects, 0);
    assert.ok(lines.some((l) => l.msg === 'answer too large for an ack: replaced by an error' && l.topic === 'too_big'));
  });

  test('an unknown topic is acked as not supported; a known one is answered by its handler alone', async () => {
    assert.deepEqual(await call('update_firmware', { correlation_id: 'u-1' }), { action: 'update_firmware', correlation_id: 'u-1', status: 'error', error: 'update_firmware: not supported by this agent' });
    assert.deepEqual(await call('no_payload'), { action: 'no_payload', correlation_id: null, status: 'error', error: 'no_payload: not supported by this agent' });
    assert.deepEqual(await call('slow', { correlation_id: 3 }), { action: 'slow', correlation_id: 3, status: 'success' });
    serverSide.emit('unknown_without_ack', {}); // nothing to answer: logged only
    await waitFor('logged', () => lines.some((l) => l.topic === 'unknown_without_ack' && l.acked === false));
  });

  test('an event over the limit is dropped and logged once; the link stays up', async () => {
    await call('big_legacy', {});
    await call('big_legacy', {});
    assert.equal(sendEvent(client, 'heartbeat', { data: big(LIMIT) }, { volatile: true }), false);
    assert.equal(sendEvent(client, 'heartbeat', { ok: true }, { volatile: true }), true);
    await waitFor('the small heartbeat', () => events.some((e) => e.event === 'heartbeat'));
    assert.deepEqual(events.filter((e) => e.event === 'heartbeat').map((e) => e.args[0]), [{ ok: true }]);
    assert.equal(events.filter((e) => e.event === 'big_legacy').length, 0);
    assert.equal(lines.filter((l) => l.event === 'big_legacy').length, 1, 'logged once');
    assert.equal(disconnects, 0);
  });
});
