// HTTP(S) to one runtime's REST API on its internal network. The runtime's certificate is self-signed:
// verification is off for this connection only. Timeout, 16 MiB body cap; failures become 502/504.
import http from 'node:http';
import https from 'node:https';

export const BODY_CAP = 16 * 2 ** 20;

export interface RuntimeRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  timeoutMs: number;
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
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > BODY_CAP) {
            req.destroy();
            resolve(synthetic(502, `response body larger than ${BODY_CAP} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (e) => resolve(synthetic(502, e.message)));
        res.on('end', () => {
          if (size > BODY_CAP) return;
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
