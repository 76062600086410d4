// Binds the topics to a socket: every request is answered through the acknowledgement, with `action`
// and `correlation_id`; v1's response events are emitted too unless ORCH_LEGACY_EMITS=0. A handler
// that throws is answered with an error, never a crash. Every ack fits in ORCH_MAX_ACK_BYTES, and a
// topic nobody handles is answered too, so the cloud never waits on a request (CONTRACT §4).
import { monoNow } from '../../clock.js';
import type { Socket } from 'socket.io-client';
import { fitAck } from './ack-size.js';
import { correlationIdOf, type Ack } from './envelope.js';
import { limitEvents, sendEvent } from './outgoing.js';
import type { Topic, TopicContext } from './topic.js';

type AckFn = (a: Ack) => void;

/** Splits an event's arguments into the payload arguments and the ack callback, if any. */
function splitAck(raw: unknown[]): { args: unknown[]; ack: AckFn | null } {
  const last = raw[raw.length - 1];
  return typeof last === 'function' ? { args: raw.slice(0, -1), ack: last as AckFn } : { args: raw, ack: null };
}

// The payload is an object, or in v1's run_command form the second argument.
const correlationOf = (args: unknown[]) => correlationIdOf(args[0]) ?? (args.length >= 2 ? correlationIdOf(args[1]) : null);

// The socket of each context's latest connection: ctx.emit always sends on the live one.
const currentSocket = new WeakMap<TopicContext, Socket>();

export function registerTopics(socket: Socket, topics: readonly Topic[], ctx: TopicContext): void {
  const maxBytes = ctx.config.maxAckBytes;
  limitEvents(socket, maxBytes, ctx.log);
  currentSocket.set(ctx, socket);
  ctx.emit ??= (event, payload) => {
    const s = currentSocket.get(ctx);
    return s?.connected === true && sendEvent(s, event, payload);
  };

  /** Acks `answer`, or its replacement when it is too large; returns what was sent. */
  const answerWith = (ack: AckFn | null, answer: Ack): Ack => {
    const fitted = fitAck(answer, maxBytes);
    if (fitted.replaced) ctx.log.warn({ topic: String(answer.action).slice(0, 64), correlationId: answer.correlation_id, bytes: fitted.bytes, maxBytes }, 'answer too large for an ack: replaced by an error');
    ack?.(fitted.ack);
    return fitted.ack;
  };

  for (const topic of topics) {
    socket.on(topic.name, (...raw: unknown[]) => {
      const { args, ack } = splitAck(raw);
      const correlation_id = correlationOf(args);
      const started = monoNow();
      void topic
        .handle(args, ctx)
        .catch((e: unknown): Ack => {
          ctx.log.error({ topic: topic.name, correlationId: correlation_id, err: (e as Error).message }, 'topic handler failed');
          return { status: 'error', error: `(agent): internal error: ${(e as Error).message.slice(0, 200)}` };
        })
        .then((body) => {
          const answer: Ack = { action: topic.name, correlation_id, ...body };
          answer.action = topic.name;
          answer.correlation_id = correlation_id;
          const sent = answerWith(ack, answer);
          // Only the outcome is logged: a request's headers and data may carry credentials.
          ctx.log.info({ topic: topic.name, correlationId: correlation_id, device: (body.device_id as string | undefined) ?? undefined, status: sent.status, ms: Math.round(monoNow() - started) }, 'request answered');
          const legacy = ctx.config.legacyEmits ? topic.legacyEmit?.(sent) : null;
          if (legacy && socket.connected) sendEvent(socket, legacy[0], legacy[1]);
        });
    });
  }

  // Incoming events only (connect, disconnect... never reach onAny). An event with a handler of its
  // own is that handler's to answer; checking listeners rather than `topics` also spares handlers
  // registered elsewhere.
  socket.onAny((event: string, ...raw: unknown[]) => {
    if (socket.listeners(event).length > 0) return;
    const { args, ack } = splitAck(raw);
    const topic = String(event).slice(0, 64);
    ctx.log.warn({ topic, acked: ack !== null }, 'request for a topic this agent does not implement');
    answerWith(ack, { action: event, correlation_id: correlationOf(args), status: 'error', error: `${topic}: not supported by this agent` });
  });
}
