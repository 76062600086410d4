// Events the agent emits (v1's response events, heartbeat, runtime_status) obey ORCH_MAX_ACK_BYTES like
// acks (CONTRACT §4): one that is too large is dropped, and logged once per event name, rather than
// sent to a server that would close the connection over it.
import type { Socket } from 'socket.io-client';
import { DEFAULT_MAX_ACK_BYTES } from '../../config.js';
import type { Logger } from '../../log.js';
import { jsonBytes } from './ack-size.js';

const limits = new WeakMap<Socket, { maxBytes: number; log: Logger }>();
const warned = new Set<string>();

/** Sets the limit for the events sent on `socket` (the router does, on every fresh socket). */
export function limitEvents(socket: Socket, maxBytes: number, log: Logger): void {
  limits.set(socket, { maxBytes, log });
}

/** Emits `event` when its payload fits; returns whether it was sent. */
export function sendEvent(socket: Socket, event: string, payload: Record<string, unknown>, o: { volatile?: boolean } = {}): boolean {
  const limit = limits.get(socket);
  const maxBytes = limit?.maxBytes ?? DEFAULT_MAX_ACK_BYTES;
  const bytes = jsonBytes(payload);
  if (bytes > maxBytes) {
    if (!warned.has(event)) {
      warned.add(event);
      limit?.log.warn({ event, bytes, maxBytes }, `event ${event} dropped: ${bytes} bytes exceed ORCH_MAX_ACK_BYTES=${maxBytes} (logged once)`);
    }
    return false;
  }
  (o.volatile ? socket.volatile : socket).emit(event, payload);
  return true;
}
