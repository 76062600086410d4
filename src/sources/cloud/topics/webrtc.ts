// WebRTC signalling (CONTRACT §9.5, upstream §13.19): webrtc:offer (the answer in the ack),
// webrtc:ice (the peer's candidates; the agent's go out as webrtc:ice events), webrtc:disconnect.
// The bridge itself is loaded on the first offer; ice and disconnect never load it.
import * as z from 'zod';
import { baseFields, deviceId, parsePayload, type Ack } from '../envelope.js';
import type { Topic } from '../topic.js';
import { bridgeFor, loadedBridge } from '../webrtc/registry.js';

const sessionId = z.string().min(1).max(128);

const offerSchema = z.object({
  ...baseFields,
  session_id: sessionId,
  device_id: deviceId,
  sdp: z.string().min(1).max(65_536),
  sdp_type: z.literal('offer', { message: 'expected "offer"' }).optional(),
});
const iceSchema = z.object({
  ...baseFields,
  session_id: sessionId,
  candidate: z.string().max(4096).nullish(),
  sdp_mid: z.string().max(64).nullish(),
  sdp_mline_index: z.number().int().min(0).max(1023).nullish(),
});
const disconnectSchema = z.object({ ...baseFields, session_id: sessionId, reason: z.string().max(1024).nullish() });

/** Error acks name the session when the payload had one (upstream answers `{status, error, session_id}`). */
const withSession = (payload: unknown, ack: Ack): Ack => {
  const s = (payload as { session_id?: unknown } | null)?.session_id;
  return typeof s === 'string' && s.length <= 128 ? { ...ack, session_id: s } : ack;
};

export const webrtcOffer: Topic = {
  name: 'webrtc:offer',
  async handle([payload], ctx) {
    const p = parsePayload(offerSchema, payload);
    if (!p.ok) return withSession(payload, p.ack);
    return (await bridgeFor(ctx)).offer(p.value);
  },
};

export const webrtcIce: Topic = {
  name: 'webrtc:ice',
  async handle([payload], ctx) {
    const p = parsePayload(iceSchema, payload);
    if (!p.ok) return withSession(payload, p.ack);
    const bridge = loadedBridge(ctx);
    if (!bridge) return { status: 'error', session_id: p.value.session_id, error: 'session_id: no such WebRTC session' };
    return (await bridge).ice(p.value);
  },
};

export const webrtcDisconnect: Topic = {
  name: 'webrtc:disconnect',
  async handle([payload], ctx) {
    const p = parsePayload(disconnectSchema, payload);
    if (!p.ok) return withSession(payload, p.ack);
    const bridge = loadedBridge(ctx);
    if (!bridge) return { status: 'warning', session_id: p.value.session_id, message: 'Session not found' };
    return (await bridge).disconnect(p.value.session_id, p.value.reason ?? undefined);
  },
};
