// HTTP(S) to one runtime's REST API on its internal network. The runtime's certificate is self-signed:
// verification is off for this connection only. Timeout, 16 MiB body cap; failures become 502/504.
// With a reservation of the agent's byte budget, the body is reserved before it is kept (all of it at
// once when the runtime sends a Content-Length, else as it comes): a body that does not fit ends the
// request and becomes a 503 naming the limit.
import http from 'node:http';
import https from 'node:https';
import type { Reservation } from '../sources/cloud/byte-budget.js';

export const BODY_CAP = 16 * 2 ** 20;

export interface RuntimeRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  timeoutMs: number;
  /** Grown by the body's bytes; the caller releases it once the answer is sent. */
  reservation?: Reservation;
  /** A smaller cap than BODY_CAP (an answer that is never large). */
  bodyCap?: number;
}

export interface HttpResponse {
  status_code: number;
  headers: Record<string, string>;
  body: unknown;
  ok: boolean;
  content_type: string;
}

// How many body bytes the runtime sent, kept beside the response rather than in it (the response is
// sent to the cloud as it is): a too-large ack names this size (CONTRACT §5.4).
const received = new WeakMap<HttpResponse, number>();

/** The size in bytes of the body the runtime sent, as received; undefined for a synthetic response. */
export const receivedBodyBytes = (r: HttpResponse): number | undefined => received.get(r);

const synthetic = (status_code: number, error: string): HttpResponse => ({
  status_code,
  headers: {},
  body: { error },
  ok: false,
  content_type: 'application/json',
});

export function requestRuntime(r: RuntimeRequest): Promise<HttpResponse> {
  return new Promise((resolve) => {
    const lib = r.url.protocol === 'https:' ? https : http;
    const req = lib.request(
      r.url,
      {
        method: r.method,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
        ...(r.url.protocol === 'https:' ? { rejectUnauthorized: false, agent: false } : { agent: false }),
        signal: AbortSignal.timeout(r.timeoutMs),
      },
      (res) => {
        const cap = r.bodyCap ?? BODY_CAP;
        const chunks: Buffer[] = [];
        let size = 0;
        let reserved = 0;
        let ended = false;
        const fail = (code: number, error: string) => {
          ended = true;
          chunks.length = 0;
          req.destroy();
          resolve(synthetic(code, error));
        };
        // Reserve the announced length at once: of many large answers, the first ones are read whole
        // and the others refused, rather than all of them cut half-way.
        const announced = Number(res.headers['content-length']);
        if (r.reservation && Number.isSafeInteger(announced) && announced > 0 && announced <= cap) {
          if (!r.reservation.grow(announced)) return fail(503, r.reservation.refusal!);
          reserved = announced;
        }
        res.on('data', (c: Buffer) => {
          if (ended) return;
          size += c.length;
          if (size > cap) return fail(502, `response body larger than ${cap} bytes`);
          if (r.reservation && size > reserved) {
            if (!r.reservation.grow(size - reserved)) return fail(503, r.reservation.refusal!);
            reserved = size;
          }
          chunks.push(c);
        });
        res.on('error', (e) => resolve(synthetic(502, e.message)));
        res.on('end', () => {
          if (ended) return;
          const text = Buffer.concat(chunks).toString('utf8');
          const contentType = res.headers['content-type'] ?? 'text/plain';
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON: the text as it is */
          }
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
          const code = res.statusCode ?? 0;
          const response: HttpResponse = { status_code: code, headers, body, ok: code >= 200 && code < 300, content_type: typeof body === 'string' ? contentType.split(';')[0]! : 'application/json' };
          received.set(response, size);
          resolve(response);
        });
      },
    );
    req.on('error', (e: Error & { name: string }) => {
      const timeout = e.name === 'AbortError' || e.name === 'TimeoutError';
      resolve(synthetic(timeout ? 504 : 502, timeout ? `no answer from the runtime within ${r.timeoutMs} ms` : e.message));
    });
    req.end(r.body ?? undefined);
  });
}
