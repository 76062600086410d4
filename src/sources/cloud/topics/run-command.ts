// run_command (CONTRACT §5.4): a proxy to the runtime's REST API that can reach nothing but the runtime.
// HEAD form: one object. v1 form: (device_id, {method, api, headers, data}).
import * as z from 'zod';
import { containerNamed } from '../../../docker/runtime-owner.js';
import { notOwnedRuntime } from '../../../domain/ownership.js';
import { requestRuntime, type HttpResponse } from '../../../runtime-api/runtime-http.js';
import { budgetFor, type Reservation } from '../byte-budget.js';
import { internalNetworkName } from '../../../domain/names.js';
import { baseFields, deviceId, parsePayload, validationError, type Ack } from '../envelope.js';
import type { Topic, TopicContext } from '../topic.js';

const apiPath = z
  .string()
  .max(2048)
  .refine((a) => !/^[a-z][a-z0-9+.-]*:/i.test(a) && !a.startsWith('//') && !/[\s\\#]/.test(a) && ![...a].some((ch) => ch.charCodeAt(0) < 0x20), { message: 'must be a path on the runtime (no scheme, host or fragment)' })
  .refine((a) => !hasDotDot(a.split('?')[0]!), { message: 'must not contain a ".." segment (percent-encoded included)' });
/** A `..` segment, also once the path is percent-decoded (`%2e%2e`, `%2e%2e%2f`, twice encoded): the runtime's server decodes. */
function hasDotDot(path: string): boolean {
  let p = path;
  for (let i = 0; i < 4; i++) {
    if (p.split(/[/\\]/).includes('..')) return true;
    let next: string;
    try {
      next = decodeURIComponent(p);
    } catch {
      return true; // malformed percent-encoding: what the server makes of it is unknown
    }
    if (next === p) return false;
    p = next;
  }
  return true;
}
const strings = z.record(z.string().max(256), z.string().max(8192));

const command = {
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], { message: 'expected one of GET, POST, PUT, DELETE, PATCH' }),
  api: apiPath,
  headers: strings.nullish(),
  data: z.unknown().optional(),
};
/** The HEAD form's fields (also a WebRTC data channel's run_command, CONTRACT §9.5). */
export const runCommandSchema = z.object({
  ...baseFields,
  device_id: deviceId,
  ...command,
  port: z.number().int().min(1).max(65535).optional(),
  params: strings.nullish(),
  files: z
    .record(z.string().max(256), z.object({ filename: z.string().max(256).optional(), content_base64: z.string(), content_type: z.string().max(256).optional() }))
    .nullish(),
});
export type RunCommand = z.infer<typeof runCommandSchema>;
const v1Schema = z.object(command);

/**
 * The runtime `id`'s address on its internal network, read from Docker now (never a stale cache), or
 * the error ack that says why there is none.
 */
export async function runtimeAddress(ctx: Pick<TopicContext, 'docker' | 'store'>, id: string): Promise<{ ip: string } | { ack: Ack }> {
  // Only a declared runtime's own container (never the agent's, netmon's or another program's).
  const rec = ctx.store.state.runtimes[id];
  if (!rec) return { ack: { status: 'error', error: `Device not found: ${id}` } };
  let ip: string | undefined;
  try {
    const c = await containerNamed(ctx.docker, id);
    if (c === null) return { ack: { status: 'error', error: `Device not found: ${id}` } };
    const why = notOwnedRuntime(id, id, c.Config.Labels ?? {}, rec.adoption !== undefined);
    if (why !== null) return { ack: { status: 'error', error: `Device ${id}: ${why}` } };
    if (!c.State.Running) return { ack: { status: 'error', error: `Device ${id} is not running` } };
    ip = c.NetworkSettings.Networks?.[internalNetworkName(id)]?.IPAddress || undefined;
  } catch (e) {
    return { ack: validationError(`device_id: cannot read ${id} from Docker: ${(e as Error).message}`) };
  }
  if (!ip) return { ack: { status: 'error', error: `Device ${id} has no address on ${internalNetworkName(id)}` } };
  return { ip };
}

/** The answer to a command the byte budget cannot take now (CONTRACT §5.4's shape, status 503). */
export const overBudget = (error: string): Ack => {
  const http_response: HttpResponse = { status_code: 503, headers: {}, body: { error }, ok: false, content_type: 'application/json' };
  return { status: 'error', http_response };
};

/**
 * Sends one command to the runtime `cmd.device_id` and returns the ack body (without action and
 * correlation_id). Shared by the cloud topic and the WebRTC data channel: same path rules, target
 * read from Docker per call, timeout and 16 MiB body cap. The request body and the response body are
 * held in `reservation` (the caller releases it once the answer is sent); what does not fit is a 503.
 */
export async function proxyToRuntime(ctx: Pick<TopicContext, 'docker' | 'config' | 'store'>, cmd: RunCommand, reservation: Reservation): Promise<Ack> {
  const target = await runtimeAddress(ctx, cmd.device_id);
  if ('ack' in target) return target.ack;
  const { ip } = target;
  const port = cmd.port ?? ctx.config.runtimePort;
  const url = new URL(`${port === 8443 ? 'https' : 'http'}://${ip}:${port}/${cmd.api.replace(/^\/+/, '')}`);
  if (url.hostname !== ip) return validationError('api: must be a path on the runtime');
  for (const [k, v] of Object.entries(cmd.params ?? {})) url.searchParams.append(k, v);
  const headers: Record<string, string> = { ...(cmd.headers ?? {}) };
  let body: Buffer | null = null;
  if (cmd.files && Object.keys(cmd.files).length > 0) {
    // The multipart body's size, reserved before it is built: the files' bytes, the fields, the framing.
    const files = Object.values(cmd.files).reduce((n, f) => n + Math.ceil((f.content_base64.length * 3) / 4) + 512, 0);
    const fields = cmd.data && typeof cmd.data === 'object' ? Buffer.byteLength(JSON.stringify(cmd.data)) + 256 * Object.keys(cmd.data).length : 0;
    if (!reservation.grow(files + fields)) return overBudget(reservation.refusal!);
    const form = new FormData();
    for (const [field, f] of Object.entries(cmd.files)) {
      form.append(field, new Blob([Buffer.from(f.content_base64, 'base64')], { type: f.content_type ?? 'application/octet-stream' }), f.filename ?? field);
    }
    if (cmd.data && typeof cmd.data === 'object') for (const [k, v] of Object.entries(cmd.data)) form.append(k, typeof v === 'string' ? v : JSON.stringify(v));
    const encoded = new Response(form);
    body = Buffer.from(await encoded.arrayBuffer());
    headers['content-type'] = encoded.headers.get('content-type')!;
  } else if (typeof cmd.data === 'string') {
    if (!reservation.grow(Buffer.byteLength(cmd.data))) return overBudget(reservation.refusal!);
    body = Buffer.from(cmd.data);
  } else if (cmd.data !== undefined && cmd.data !== null && cmd.method !== 'GET') {
    const text = JSON.stringify(cmd.data);
    if (!reservation.grow(Buffer.byteLength(text))) return overBudget(reservation.refusal!);
    body = Buffer.from(text);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }
  const http_response = await requestRuntime({ url, method: cmd.method, headers, body, timeoutMs: ctx.config.runCommandTimeoutMs, reservation });
  return { status: http_response.ok ? 'success' : 'error', http_response };
}

/**
 * `api:"debug"` (upstream §13.13's HTTP fallback of the debugger): `data` is a debug message for the
 * device's debug session; ack `{status, debug_response}`.
 */
async function debugCommand(ctx: TopicContext, device: string, data: unknown): Promise<Ack> {
  const { debugSessionsFor } = await import('../debug/session.js');
  const debug_response = await debugSessionsFor(ctx).handle(`run_command:${device}`, device, data);
  return { status: debug_response.type === 'debug_error' ? 'error' : 'success', debug_response };
}

/** The cloud's commands: one session of the byte budget; released when the handler returns, as the ack is sent. */
async function fromCloud(ctx: TopicContext, cmd: RunCommand): Promise<Ack> {
  const reservation = budgetFor(ctx.config).reserve('cloud', 0);
  try {
    return await proxyToRuntime(ctx, cmd, reservation);
  } finally {
    reservation.release();
  }
}

export const runCommand: Topic = {
  name: 'run_command',
  async handle(args, ctx) {
    if (args.length >= 2 && typeof args[0] === 'string') {
      const id = deviceId.safeParse(args[0]);
      if (!id.success) return validationError(`device_id: ${id.error.issues[0]?.message ?? 'invalid'}`);
      const p = parsePayload(v1Schema, args[1]);
      if (!p.ok) return p.ack;
      if (p.value.api === 'debug') return debugCommand(ctx, id.data, p.value.data);
      return fromCloud(ctx, { ...p.value, device_id: id.data });
    }
    const p = parsePayload(runCommandSchema, args[0]);
    if (!p.ok) return p.ack;
    if (p.value.api === 'debug') return debugCommand(ctx, p.value.device_id, p.value.data);
    return fromCloud(ctx, p.value);
  },
};
