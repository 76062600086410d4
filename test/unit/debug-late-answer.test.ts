// Issue #26: debug responses carry no id. A runtime that answers a command after its timeout must not have
// that answer taken for the next command's. A Socket.IO `/api/debug` on loopback holds the first answer
// until the second command arrives (the late answer lands while the next command waits): deterministic.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Server } from 'socket.io';
import { RuntimeLink } from '../../src/sources/cloud/debug/session.js';

test('a debug answer that comes after the timeout closes the link instead of answering the next command', async (t) => {
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  t.after(() => new Promise<void>((r) => void io.close(() => r())));
  let held: (() => void) | null = null;
  io.of('/api/debug').on('connection', (socket) => {
    socket.emit('connected', { status: 'ok' });
    socket.on('debug_command', (m: { command: string }) => {
      const answer = () => socket.emit('debug_response', { success: true, data: `answer-to-${m.command}` });
      if (held === null && m.command === '41') {
        held = answer; // late: sent only when the next command comes
        return;
      }
      held?.();
      answer();
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const { port } = httpServer.address() as AddressInfo;

  const link = await RuntimeLink.open(`http://127.0.0.1:${port}/api/debug`, 'jwt', 5000, 100);
  await assert.rejects(link.command('41'), /in time|timed out/);
  // The next command is never answered with the first one's late answer (the old link resolved it with 'answer-to-41').
  await assert.rejects(link.command('45'), /did not answer a debug command in time/);
  assert.ok(link.lost, 'the link is lost');
  link.close();
});
