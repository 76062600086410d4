// Binds the topics to a socket: every request is answered through the acknowledgement, with `action`
// and `correlation_id`; v1's response events are emitted too unless ORCH_LEGACY_EMITS=0. A handler
// that throws is answered with an error, never a crash.
import type { Socket } from 'socket.io-client';
import { correlationIdOf, type Ack } from './envelope.js';
import type { Topic, TopicContext } from './topic.js';

export function registerTopics(socket: Socket, topics: readonly Topic[], ctx: TopicContext): void {
  for (const topic of topics) {
    socket.on(topic.name, (...raw: unknown[]) => {
      const ack = typeof raw[raw.length - 1] === 'function' ? (raw.pop() as (a: Ack) => void) : null;
      const correlation_id = correlationIdOf(raw[0]) ?? (raw.length >= 2 ? correlationIdOf(raw[1]) : null);
      const started = Date.now();
      void topic
        .handle(raw, ctx)
        .catch((e: unknown): Ack => {
          ctx.log.error({ topic: topic.name, correlationId: correlation_id, err: (e as Error).message }, 'topic handler failed');
          return { status: 'error', error: `(agent): internal error: ${(e as Error).message.slice(0, 200)}` };
        })
        .then((body) => {
          const answer: Ack = { action: topic.name, correlation_id, ...body };
          answer.action = topic.name;
          answer.correlation_id = correlation_id;
          ctx.log.info({ topic: topic.name, correlationId: correlation_id, device: (body.device_id as string | undefined) ?? undefined, status: body.status, ms: Date.now() - started }, 'request answered');
          ack?.(answer);
          const legacy = ctx.config.legacyEmits ? topic.legacyEmit?.(answer) : null;
          if (legacy && socket.connected) socket.emit(legacy[0], legacy[1]);
        });
    });
  }
}
