// The runtime debugger (CONTRACT §9.5, upstream §13.13 and §15.1): one module behind both ways in —
// `run_command` with `api:"debug"` (sessions keyed by device) and the WebRTC `debug` data channel
// (sessions keyed by WebRTC session). `debug_start` logs into the runtime (POST /api/login with the
// message's username/password, never logged nor kept), opens a Socket.IO client to its `/api/debug`
// namespace with the JWT and waits for `connected`; then each debug message becomes one request frame
// (`debug_command {command}`), answered by the runtime's `debug_response {success, data}`. Commands of a
// session go one at a time. Sessions idle for the WebRTC idle limit (300 s) are closed, as are all of
// them when the agent stops.
import { monoNow } from '../../../clock.js';
import { io, type Socket } from 'socket.io-client';
import * as z from 'zod';
import { requestRuntime } from '../../../runtime-api/runtime-http.js';
import type { TopicContext } from '../topic.js';
import { runtimeAddress } from '../topics/run-command.js';
import {
  FC_GET_LIST,
  FC_GET_MD5,
  FC_INFO,
  FC_SET,
  FrameError,
  MAX_LIST_INDEXES,
  STATUS_SUCCESS,
  buildGetList,
  buildGetMd5,
  buildInfo,
  buildSet,
  fromHex,
  parseResponse,
  statusName,
  toHex,
} from './frames.js';

export type DebugContext = Pick<TopicContext, 'docker' | 'config' | 'log' | 'store'>;
export type DebugReply = { type: string } & Record<string, unknown>;

/** At most this many debug sessions per device (each holds a Socket.IO connection to the runtime). */
export const MAX_PER_DEVICE = 4;
/** At most this many in all. */
export const MAX_SESSIONS = 32;
/**
 * The largest message the runtime may send on its debug link, and its login answer: a GET_LIST of 256
 * STRINGs is under 100,000 characters of hex. Past it the link is closed (the session reports it lost),
 * so 32 sessions hold at most 32 MiB of debug frames, not the WebSocket default of 100 MiB each.
 */
export const MAX_DEBUG_MESSAGE_BYTES = 2 ** 20;
/** How long a runtime has to answer one debug frame (upstream: 5 s). */
const COMMAND_TIMEOUT_MS = 5_000;

const errorReply = (error: string): DebugReply => ({ type: 'debug_error', error: error.slice(0, 300) });
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

const hexString = z.string().max(4096).regex(/^(\s*[0-9a-fA-F]{2})*\s*$/, { message: 'expected hex byte pairs' });
const index = z.number().int().min(0).max(0xffff);
const messages = z.discriminatedUnion('type', [
  z.object({ type: z.literal('debug_start'), username: z.string().max(256).default('dev'), password: z.string().max(256).default('dev'), port: z.number().int().min(1).max(65535).default(8443) }),
  z.object({ type: z.literal('debug_stop') }),
  z.object({ type: z.literal('debug_get_md5') }),
  z.object({ type: z.literal('debug_info') }),
  z.object({ type: z.literal('debug_get_list'), indexes: z.array(index).min(1).max(MAX_LIST_INDEXES) }),
  z.object({ type: z.literal('debug_set'), index, force: z.boolean().default(true), value: hexString.default('00') }),
  // A raw frame relayed as it is (upstream HEAD's `debug_command`); only the five debug functions.
  z.object({ type: z.literal('debug_command'), command: hexString.min(2) }),
]);
type Message = z.infer<typeof messages>;
const TYPES = new Set(['debug_start', 'debug_stop', 'debug_get_md5', 'debug_info', 'debug_get_list', 'debug_set', 'debug_command']);

/** One Socket.IO connection to a runtime's `/api/debug`, its commands one at a time. */
export class RuntimeLink {
  lastActivity = monoNow(); // monotonic: the idle sweep measures a duration
  lost: string | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private waiting: ((r: { success?: unknown; data?: unknown; error?: unknown }) => void) | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly commandTimeoutMs: number,
  ) {
    socket.on('debug_response', (r: unknown) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(typeof r === 'object' && r !== null ? (r) : { success: false, error: 'malformed debug_response' });
    });
    socket.on('disconnect', (reason: string) => {
      this.lost = `runtime debug connection lost (${String(reason).slice(0, 64)})`;
      const w = this.waiting;
      this.waiting = null;
      w?.({ success: false, error: this.lost });
    });
  }

  /** Connects with the JWT and waits for the runtime's `connected {status:"ok"}`. */
  static open(url: string, jwt: string, timeoutMs: number, commandTimeoutMs = COMMAND_TIMEOUT_MS): Promise<RuntimeLink> {
    const socket = io(url, {
      auth: { token: jwt },
      transports: ['websocket'],
      // The runtime's certificate is self-signed: verification is off for this connection only.
      rejectUnauthorized: false,
      reconnection: false,
      forceNew: true,
      // Handed to the `ws` WebSocket by engine.io-client (not in socket.io-client's types).
      ...({ maxPayload: MAX_DEBUG_MESSAGE_BYTES } as object),
      timeout: timeoutMs,
    });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.disconnect();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail('timed out waiting for the runtime debug namespace'), timeoutMs);
      socket.on('connect_error', (e: Error) => fail(`runtime debug connection refused: ${errorText(e)}`));
      socket.on('connected', (m: unknown) => {
        const status = (m as { status?: unknown } | null)?.status;
        if (status !== 'ok') return fail(`runtime debug connection refused: status ${JSON.stringify(status ?? null).slice(0, 64)}`);
        clearTimeout(timer);
        socket.off('connect_error');
        socket.off('connected');
        resolve(new RuntimeLink(socket, commandTimeoutMs));
      });
    });
  }

  /** Sends one frame; resolves with the response frame's hex, rejects with the runtime's error. */
  command(hex: string): Promise<string> {
    const run = async (): Promise<string> => {
      if (this.lost) throw new Error(this.lost);
      const r = await new Promise<{ success?: unknown; data?: unknown; error?: unknown }>((resolve) => {
        const timer = setTimeout(() => {
          // Responses carry no id: a late one would be taken as the next command's answer (and every
          // later one as the previous index's). The link is lost; the session must be started again.
          this.waiting = null;
          this.lost = 'the runtime did not answer a debug command in time (the session is closed: a late answer would be taken for the next one)';
          this.socket.removeAllListeners();
          this.socket.disconnect();
          resolve({ success: false, error: this.lost });
        }, this.commandTimeoutMs);
        this.waiting = (x) => {
          clearTimeout(timer);
          resolve(x);
        };
        this.socket.emit('debug_command', { command: hex });
      });
      this.lastActivity = monoNow();
      if (r.success !== true || typeof r.data !== 'string') throw new Error(typeof r.error === 'string' ? r.error.slice(0, 200) : 'runtime debug command failed');
      return r.data;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.lost ??= 'debug session closed';
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }
}

interface Entry {
  deviceId: string;
  link: RuntimeLink | null;
  /** A debug_start in progress (its link not yet known). */
  starting: number;
}

/** The debug sessions of one agent, keyed by their way in (device for run_command, WebRTC session for the channel). */
export class DebugSessions {
  private readonly sessions = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly ctx: DebugContext) {}

  get size(): number {
    return [...this.sessions.values()].filter((e) => e.link).length;
  }

  /** Answers one debug message for the session `key` on runtime `deviceId`. */
  async handle(key: string, deviceId: string, raw: unknown): Promise<DebugReply> {
    const type = (raw as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !TYPES.has(type)) return errorReply(`Unknown debug message type: ${String(type).slice(0, 64)}`);
    const p = messages.safeParse(raw);
    if (!p.success) {
      const issue = p.error.issues[0];
      return errorReply(`${issue?.path.join('.') || '(message)'}: ${issue?.message ?? 'invalid'}`);
    }
    const m = p.data;
    if (m.type === 'debug_start') return this.start(key, deviceId, m);
    if (m.type === 'debug_stop') {
      this.close(key, 'debug_stop');
      return { type: 'debug_disconnected' };
    }
    const e = this.sessions.get(key);
    if (!e?.link || e.deviceId !== deviceId) return errorReply('No active debug session. Send debug_start first.');
    if (e.link.lost) {
      const why = e.link.lost;
      this.close(key, why);
      return errorReply(`${why}; send debug_start`);
    }
    try {
      return await this.command(e.link, m);
    } catch (err) {
      return errorReply(err instanceof FrameError ? `runtime answered a malformed frame: ${err.message}` : errorText(err));
    }
  }

  private async command(link: RuntimeLink, m: Exclude<Message, { type: 'debug_start' | 'debug_stop' }>): Promise<DebugReply> {
    if (m.type === 'debug_command') {
      const bytes = fromHex(m.command);
      if (bytes[0]! < FC_INFO || bytes[0]! > FC_GET_MD5) return errorReply('command: not a debug function (0x41..0x45)');
      return { type: 'debug_command_response', data: await link.command(toHex(bytes)) };
    }
    const [fc, frame] =
      m.type === 'debug_get_md5' ? [FC_GET_MD5, buildGetMd5()]
      : m.type === 'debug_info' ? [FC_INFO, buildInfo()]
      : m.type === 'debug_get_list' ? [FC_GET_LIST, buildGetList(m.indexes)]
      : [FC_SET, buildSet(m.index, m.force, m.value)];
    const r = parseResponse(await link.command(frame), fc);
    if (r.status !== STATUS_SUCCESS) return errorReply(statusName(r.status));
    switch (r.fc) {
      case FC_GET_MD5: return { type: 'debug_md5_response', md5: r.md5 ?? '' };
      case FC_INFO: return { type: 'debug_info_response', variable_count: r.variableCount };
      case FC_SET: return { type: 'debug_set_response', success: true };
      default: return { type: 'debug_values_response', tick: r.tick ?? 0, last_index: r.lastIndex ?? 0, data: r.data ?? '' };
    }
  }

  private async start(key: string, deviceId: string, m: Extract<Message, { type: 'debug_start' }>): Promise<DebugReply> {
    if (this.stopped) return errorReply('the agent is stopping');
    // A new start replaces the session of the same key.
    this.close(key, 'replaced by debug_start');
    const all = [...this.sessions.values()];
    if (all.filter((e) => e.deviceId === deviceId).length >= MAX_PER_DEVICE) return errorReply(`at most ${MAX_PER_DEVICE} debug sessions per device`);
    if (all.length >= MAX_SESSIONS) return errorReply(`at most ${MAX_SESSIONS} debug sessions at once`);
    const entry: Entry = { deviceId, link: null, starting: monoNow() };
    this.sessions.set(key, entry);
    try {
      const target = await runtimeAddress(this.ctx, deviceId);
      if ('ack' in target) return errorReply(String(target.ack.error));
      const base = `${m.port === 8443 ? 'https' : 'http'}://${target.ip}:${m.port}`;
      const login = await requestRuntime({
        url: new URL('/api/login', base),
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ username: m.username, password: m.password })),
        timeoutMs: this.ctx.config.runCommandTimeoutMs,
        bodyCap: MAX_DEBUG_MESSAGE_BYTES,
      });
      if (!login.ok) return errorReply(`Authentication failed: HTTP ${login.status_code}`);
      const jwt = (login.body as { access_token?: unknown } | null)?.access_token;
      if (typeof jwt !== 'string' || jwt === '') return errorReply('No access_token in login response');
      const link = await RuntimeLink.open(`${base}/api/debug`, jwt, this.ctx.config.runCommandTimeoutMs);
      if (this.sessions.get(key) !== entry || this.stopped) {
        link.close();
        return errorReply('debug session closed while starting');
      }
      entry.link = link;
      this.ensureSweeper();
      this.ctx.log.info({ debugSession: key.slice(0, 80), device: deviceId, port: m.port, sessions: this.size }, 'debug session started');
      return { type: 'debug_connected' };
    } catch (e) {
      return errorReply(errorText(e));
    } finally {
      if (!entry.link && this.sessions.get(key) === entry) this.sessions.delete(key);
    }
  }

  /** Closes the session `key`, if any. */
  close(key: string, reason: string): void {
    const e = this.sessions.get(key);
    if (!e) return;
    this.sessions.delete(key);
    if (e.link) {
      e.link.close();
      this.ctx.log.info({ debugSession: key.slice(0, 80), device: e.deviceId, reason: reason.slice(0, 100) }, 'debug session closed');
    }
    if (this.sessions.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    const idle = this.ctx.config.webrtcIdleMs;
    const every = Math.max(250, Math.min(60_000, Math.floor(idle / 4)));
    this.sweeper = setInterval(() => {
      const now = monoNow();
      for (const [key, e] of [...this.sessions]) if (e.link && now - e.link.lastActivity >= idle) this.close(key, 'idle');
    }, every).unref();
  }

  /** Closes every session (the agent is stopping). */
  stop(): void {
    this.stopped = true;
    for (const key of [...this.sessions.keys()]) this.close(key, 'agent stopping');
  }
}

const managers = new WeakMap<object, DebugSessions>();

/** The debug sessions of one agent (its topic context), made on first use. */
export function debugSessionsFor(ctx: DebugContext): DebugSessions {
  let m = managers.get(ctx);
  if (!m) {
    m = new DebugSessions(ctx);
    managers.set(ctx, m);
  }
  return m;
}

/** Closes every debug session of `ctx` (Agent.stop); nothing made without one. */
export function stopDebugSessions(ctx: object | undefined): void {
  const m = ctx ? managers.get(ctx) : undefined;
  if (!m) return;
  managers.delete(ctx!);
  m.stop();
}
