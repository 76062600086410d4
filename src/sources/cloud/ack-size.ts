// Every ack fits in ORCH_MAX_ACK_BYTES (CONTRACT §4): a Socket.IO server drops a packet over its
// maxHttpBufferSize (1 MB by default) together with the connection, and the answer is lost. A too-large
// run_command answer becomes a 502 http_response naming the body's size and the limit (§5.4); any
// other too-large answer becomes a short error.
import { receivedBodyBytes, type HttpResponse } from '../../runtime-api/runtime-http.js';
import type { Ack } from './envelope.js';

/** UTF-8 bytes of the JSON Socket.IO sends for `value`; Infinity when it cannot be serialized at all. */
export function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch {
    return Infinity;
  }
}

export interface Fitted {
  ack: Ack;
  /** The size of the answer as the topic made it. */
  bytes: number;
  replaced: boolean;
}

const isHttpResponse = (v: unknown): v is HttpResponse => typeof v === 'object' && v !== null && 'status_code' in v && 'body' in v;
const short = (v: unknown) => (typeof v === 'string' ? v.slice(0, 128) : v);

/** The answer itself when it fits in `maxBytes`, else its replacement, which always fits. */
export function fitAck(answer: Ack, maxBytes: number): Fitted {
  const bytes = jsonBytes(answer);
  if (bytes <= maxBytes) return { ack: answer, bytes, replaced: false };
  const envelope: Ack = { action: short(answer.action), correlation_id: short(answer.correlation_id) };
  if (typeof answer.device_id === 'string') envelope.device_id = short(answer.device_id);
  const hr = answer.http_response;
  if (isHttpResponse(hr)) {
    const bodyBytes = receivedBodyBytes(hr) ?? jsonBytes(hr.body);
    const http_response: HttpResponse = {
      status_code: 502,
      headers: {},
      body: { error: `response body of ${bodyBytes} bytes is too large for an ack of at most ORCH_MAX_ACK_BYTES=${maxBytes} bytes` },
      ok: false,
      content_type: 'application/json',
    };
    const ack = { ...envelope, status: 'error', http_response };
    if (jsonBytes(ack) <= maxBytes) return { ack, bytes, replaced: true };
  }
  return { ack: { ...envelope, status: 'error', error: `(agent): answer of ${bytes} bytes exceeds ORCH_MAX_ACK_BYTES=${maxBytes} bytes` }, bytes, replaced: true };
}
