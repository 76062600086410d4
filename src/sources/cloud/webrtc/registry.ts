// The agent's WebRTC bridge, loaded on the first offer (werift and its dependencies cost memory an
// agent that never sees an offer should not pay). One bridge per topic context, i.e. per agent.
import { stopDebugSessions } from '../debug/session.js';
import type { TopicContext } from '../topic.js';
import type { WebrtcBridge } from './bridge.js';

const bridges = new WeakMap<TopicContext, Promise<WebrtcBridge>>();

/** The bridge of `ctx`, loading it on first use. */
export function bridgeFor(ctx: TopicContext): Promise<WebrtcBridge> {
  let b = bridges.get(ctx);
  if (!b) {
    b = import('./bridge.js').then((m) => new m.WebrtcBridge(ctx));
    // A failed load is retried on the next offer rather than remembered.
    b.catch(() => bridges.delete(ctx));
    bridges.set(ctx, b);
  }
  return b;
}

/** The bridge of `ctx` if one was ever loaded; null otherwise (loads nothing). */
export const loadedBridge = (ctx: TopicContext): Promise<WebrtcBridge> | null => bridges.get(ctx) ?? null;

/**
 * Closes every WebRTC session of `ctx` and every debug session (run_command `api:"debug"` and the
 * `debug` channel) (Agent.stop); nothing to do, and nothing loaded, without one.
 */
export async function stopWebrtc(ctx: TopicContext | undefined): Promise<void> {
  stopDebugSessions(ctx);
  const b = ctx ? bridges.get(ctx) : undefined;
  if (!b) return;
  bridges.delete(ctx!);
  await b.then((bridge) => bridge.stop()).catch(() => undefined);
}
