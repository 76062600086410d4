// The WebRTC bridge (CONTRACT §9.5, upstream §13.19): one RTCPeerConnection per session, answered
// from the cloud's offer; the peer's `data` channel carries ready / ping / pong / close and run_command
// → command_response, large messages chunked both ways. Loaded on the first offer only (werift is big):
// nothing here runs at start. Sessions end on `close`, webrtc:disconnect, a failed connection, idleness
// or the agent stopping; never because the Socket.IO link dropped.
import { monoNow } from '../../../clock.js';
import { randomUUID } from 'node:crypto';
import { RTCPeerConnection, type RTCDataChannel, type RTCIceCandidate } from 'werift';
import type { Ack } from '../envelope.js';
import type { TopicContext } from '../topic.js';
import { proxyToRuntime, runCommandSchema } from '../topics/run-command.js';
import { budgetFor } from '../byte-budget.js';
import { debugSessionsFor } from '../debug/session.js';
import { Reassembler, frame, isChunkMessage } from './chunking.js';

export const MAX_SESSIONS = 8;
/** The agent pings an open data channel this often (upstream: every 30 s). */
export const PING_INTERVAL_MS = 30_000;
/** At most this long to gather candidates before the answer is sent (the rest are trickled). */
const GATHER_WAIT_MS = 2_000;

export type BridgeContext = Pick<TopicContext, 'docker' | 'config' | 'log' | 'store' | 'emit'>;

export interface Offer {
  session_id: string;
  device_id: string;
  sdp: string;
}
export interface RemoteCandidate {
  session_id: string;
  candidate?: string | null;
  sdp_mid?: string | null;
  sdp_mline_index?: number | null;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

class Session {
  lastActivity = monoNow(); // monotonic: the idle sweep measures a duration
  closed = false;
  /** While the offer is answered (werift's DTLS certificate, ICE gathering): not idle, however slow the box. */
  answering = true;
  /** Local candidates found before the answer was acked: emitted right after it. */
  private held: RTCIceCandidate[] | null = [];
  private data: RTCDataChannel | null = null;
  private debugReassembler: Reassembler | null = null;
  /** This session's name in the agent's byte budget. */
  private readonly budgetKey: string;
  private readonly reassembler: Reassembler;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    readonly deviceId: string,
    readonly pc: RTCPeerConnection,
    private readonly ctx: BridgeContext,
    private readonly onClosed: (s: Session) => void,
  ) {
    this.budgetKey = `webrtc:${id}`;
    this.reassembler = this.newReassembler();
    pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate) return;
      if (this.held) this.held.push(c);
      else this.emitCandidate(c);
    });
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') void this.close(`connection ${state}`);
    });
    pc.onDataChannel.subscribe((ch) => this.adopt(ch));
  }

  /** Chunked messages of one channel, their bytes in the agent's budget under this session. */
  private newReassembler(): Reassembler {
    const budget = budgetFor(this.ctx.config);
    return new Reassembler({ reserve: (bytes) => budget.reserve(this.budgetKey, bytes) });
  }

  /** The answer has been acked: the candidates held back go out now, later ones as they come. */
  releaseCandidates(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const c of held) this.emitCandidate(c);
  }

  private emitCandidate(c: RTCIceCandidate): void {
    if (this.closed) return;
    this.ctx.emit?.('webrtc:ice', { session_id: this.id, candidate: c.candidate, sdp_mid: c.sdpMid ?? null, sdp_mline_index: c.sdpMLineIndex ?? null });
  }

  private adopt(ch: RTCDataChannel): void {
    if (ch.label === 'data') {
      this.data = ch;
      const opened = () => {
        this.send({ type: 'ready', session_id: this.id, device_id: this.deviceId });
        this.pingTimer ??= setInterval(() => this.send({ type: 'ping', timestamp: Date.now() }), PING_INTERVAL_MS).unref();
      };
      if (ch.readyState === 'open') opened();
      else ch.stateChanged.subscribe((s) => s === 'open' && opened());
      ch.onMessage.subscribe((m) => this.receive(typeof m === 'string' ? m : m.toString('utf8')));
      return;
    }
    if (ch.label === 'debug') return this.adoptDebug(ch);
    // Any other channel: said once, then the channel is left alone.
    this.ctx.log.warn({ session: this.id.slice(0, 64), label: ch.label.slice(0, 64) }, 'WebRTC data channel not supported');
    const refuse = () => ch.send(JSON.stringify({ type: 'error', error: `${ch.label.slice(0, 64)}: channel not supported by this agent` }));
    if (ch.readyState === 'open') refuse();
    else ch.stateChanged.subscribe((s) => s === 'open' && refuse());
  }

  /**
   * The `debug` channel (CONTRACT §9.5, upstream §13.19): `debug_ready` on open, then each debug message
   * answered by the debug-session module (one session per WebRTC session, on this session's device);
   * chunked both ways like `data`. Its traffic is activity.
   */
  private adoptDebug(ch: RTCDataChannel): void {
    const key = `webrtc:${this.id}`;
    const reassembler = this.newReassembler();
    this.debugReassembler = reassembler;
    const opened = () => this.sendOn(ch, { type: 'debug_ready', session_id: this.id, device_id: this.deviceId });
    if (ch.readyState === 'open') opened();
    ch.stateChanged.subscribe((s) => {
      if (s === 'open') opened();
      if (s === 'closed') debugSessionsFor(this.ctx).close(key, 'debug channel closed');
    });
    const receive = (text: string): void => {
      let m: unknown;
      try {
        m = JSON.parse(text);
      } catch {
        return this.sendOn(ch, { type: 'debug_error', error: 'message is not JSON' });
      }
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return this.sendOn(ch, { type: 'debug_error', error: 'message is not a JSON object' });
      const msg = m as Record<string, unknown>;
      this.lastActivity = monoNow();
      if (isChunkMessage(msg)) {
        const a = reassembler.accept(msg, monoNow());
        if (a.kind === 'error') {
          this.ctx.log.warn({ session: this.id.slice(0, 64), transfer: a.transferId?.slice(0, 64) ?? null, err: a.error }, 'WebRTC chunked debug message dropped');
          this.sendOn(ch, { type: 'debug_error', transfer_id: a.transferId, error: a.error });
        }
        if (a.kind === 'complete') receive(a.text);
        return;
      }
      const echo = (['request_id', 'correlation_id'] as const).filter((k) => typeof msg[k] === 'number' || (typeof msg[k] === 'string' && (msg[k]).length <= 128));
      const ids = Object.fromEntries(echo.map((k) => [k, msg[k]]));
      if (msg.device_id !== undefined && msg.device_id !== this.deviceId) return this.sendOn(ch, { type: 'debug_error', ...ids, error: `device_id: this session is for ${this.deviceId}` });
      void debugSessionsFor(this.ctx)
        .handle(key, this.deviceId, { ...msg, device_id: undefined, request_id: undefined, correlation_id: undefined })
        .catch((e: unknown) => ({ type: 'debug_error', error: `(agent): internal error: ${errorText(e)}` }))
        .then((reply) => {
          this.lastActivity = monoNow();
          this.sendOn(ch, { ...reply, ...ids });
        });
    };
    ch.onMessage.subscribe((m) => receive(typeof m === 'string' ? m : m.toString('utf8')));
  }

  /** Sends one message on `data`, in chunks when it is large. */
  send(message: Record<string, unknown>): void {
    if (this.data) this.sendOn(this.data, message);
  }

  /** Sends one message on `ch`, in chunks when it is large. */
  private sendOn(ch: RTCDataChannel, message: Record<string, unknown>): void {
    if (this.closed || ch.readyState !== 'open') return;
    try {
      for (const part of frame(message, randomUUID())) ch.send(part);
    } catch (e) {
      this.ctx.log.warn({ session: this.id.slice(0, 64), err: errorText(e) }, 'WebRTC data channel send failed');
    }
  }

  private receive(text: string): void {
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      this.ctx.log.debug({ session: this.id.slice(0, 64), chars: text.length }, 'WebRTC data channel: a message that is not JSON ignored');
      return;
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return;
    this.handle(m as Record<string, unknown>);
  }

  private handle(m: Record<string, unknown>): void {
    // A pong only answers the agent's ping: it is not activity.
    if (m.type !== 'pong') this.lastActivity = monoNow();
    if (isChunkMessage(m)) {
      const a = this.reassembler.accept(m, monoNow());
      if (a.kind === 'error') {
        this.ctx.log.warn({ session: this.id.slice(0, 64), transfer: a.transferId?.slice(0, 64) ?? null, err: a.error }, 'WebRTC chunked message dropped');
        // The peer is told which transfer was refused and why (e.g. the byte budget).
        this.send({ type: 'error', transfer_id: a.transferId, error: a.error });
      }
      if (a.kind === 'complete') this.receive(a.text);
      return;
    }
    switch (m.type) {
      case 'ping':
        return this.send({ type: 'pong', timestamp: m.timestamp ?? Date.now() });
      case 'pong':
        return;
      case 'close':
        return void this.close('closed by the peer');
      case 'run_command':
        return void this.runCommand(m);
      default:
        this.ctx.log.debug({ session: this.id.slice(0, 64), type: String(m.type).slice(0, 64) }, 'WebRTC data channel: message type ignored');
    }
  }

  private async runCommand(m: Record<string, unknown>): Promise<void> {
    const correlation_id = typeof m.correlation_id === 'number' || (typeof m.correlation_id === 'string' && m.correlation_id.length <= 128) ? m.correlation_id : null;
    const started = monoNow();
    let body: Ack;
    // A session reaches its own device only: the cloud authorised the peer for that one.
    const deviceId = m.device_id ?? this.deviceId;
    if (deviceId !== this.deviceId) {
      body = { status: 'error', error: `device_id: this session is for ${this.deviceId}` };
    } else {
      const p = runCommandSchema.safeParse({ ...m, device_id: deviceId, type: undefined });
      if (!p.success) {
        const issue = p.error.issues[0];
        body = { status: 'error', error: `${issue?.path.join('.') || '(payload)'}: ${issue?.message ?? 'invalid'}` };
      } else {
        // The request and response bodies are held in this session's budget until the answer has left
        // the channel's send queue (or the session closed).
        const reservation = budgetFor(this.ctx.config).reserve(this.budgetKey, 0);
        try {
          body = await proxyToRuntime(this.ctx, p.data, reservation).catch((e: unknown): Ack => ({ status: 'error', error: `(agent): internal error: ${errorText(e)}` }));
          this.answer(correlation_id, started, body);
          await this.drained();
        } finally {
          reservation.release();
        }
        return;
      }
    }
    this.answer(correlation_id, started, body);
  }

  private answer(correlation_id: unknown, started: number, body: Ack): void {
    this.lastActivity = monoNow();
    this.ctx.log.info({ session: this.id.slice(0, 64), device: this.deviceId, correlationId: correlation_id, status: body.status, ms: Math.round(monoNow() - started) }, 'WebRTC run_command answered');
    this.send({ ...body, type: 'command_response', correlation_id });
  }

  /** Resolves once the data channel has sent what it queued, or the session is closed. */
  private async drained(): Promise<void> {
    while (!this.closed && this.data && this.data.readyState === 'open' && this.data.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 25));
  }

  sweep(now: number): void {
    this.reassembler.sweep(now);
    this.debugReassembler?.sweep(now);
  }

  async close(reason: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.reassembler.clear();
    this.debugReassembler?.clear();
    debugSessionsFor(this.ctx).close(`webrtc:${this.id}`, `WebRTC session closed: ${reason}`);
    this.onClosed(this);
    this.ctx.log.info({ session: this.id.slice(0, 64), device: this.deviceId, reason }, 'WebRTC session closed');
    // The peer is told why, and its channel is closed (a stream reset it sees), before the connection goes.
    const ch = this.data;
    if (ch && ch.readyState === 'open') {
      try {
        ch.send(JSON.stringify({ type: 'close', reason }));
        // SCTP sends from a queue: give it a moment (bounded) to flush before the transport goes.
        for (let i = 0; i < 10 && ch.bufferedAmount > 0; i++) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 20));
        ch.close();
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        /* the connection is going anyway */
      }
    }
    await this.pc.close().catch(() => undefined);
  }
}

export class WebrtcBridge {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ctx: BridgeContext) {
    // Idleness is checked every minute (upstream), more often when the limit is short (tests).
    const every = Math.max(250, Math.min(60_000, Math.floor(ctx.config.webrtcIdleMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), every).unref();
    ctx.log.info({ iceServers: ctx.config.webrtcIceServers.map((s) => s.urls), hostAddresses: ctx.config.webrtcHostAddresses ?? 'all but loopback', idleMs: ctx.config.webrtcIdleMs }, 'WebRTC bridge loaded');
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = monoNow();
    for (const s of [...this.sessions.values()]) {
      if (s.answering) continue;
      if (now - s.lastActivity >= this.ctx.config.webrtcIdleMs) void s.close('idle');
      else s.sweep(now);
    }
  }

  private peerConnection(): RTCPeerConnection {
    const { webrtcIceServers: iceServers, webrtcHostAddresses: hosts } = this.ctx.config;
    // Only the listed addresses are offered: the stack's own discovery is off, the list added instead.
    const only = hosts ? { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: hosts, ...(hosts.length === 1 && !hosts[0]!.includes(':') ? { iceInterfaceAddresses: { udp4: hosts[0]! } } : {}) } : {};
    return new RTCPeerConnection({ iceServers, ...only });
  }

  async offer(o: Offer): Promise<Ack> {
    const { session_id } = o;
    if (!this.ctx.store.state.runtimes[o.device_id]) return { status: 'error', session_id, error: `Device not found: ${o.device_id}` };
    // The same session offering again renegotiates from scratch.
    await this.sessions.get(session_id)?.close('replaced by a new offer');
    if (this.sessions.size >= MAX_SESSIONS) return { status: 'error', session_id, error: `session_id: at most ${MAX_SESSIONS} WebRTC sessions at once` };
    const session = new Session(session_id, o.device_id, this.peerConnection(), this.ctx, (s) => {
      if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
    });
    this.sessions.set(session_id, session);
    const { pc } = session;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: o.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      if (pc.iceGatheringState !== 'complete') {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, GATHER_WAIT_MS);
          pc.iceGatheringStateChange.subscribe((s) => {
            if (s === 'complete') {
              clearTimeout(t);
              resolve();
            }
          });
        });
      }
      const sdp = pc.localDescription?.sdp;
      if (!sdp || session.closed) throw new Error('no answer');
      this.ctx.log.info({ session: session_id.slice(0, 64), device: o.device_id, sessions: this.sessions.size }, 'WebRTC session answered');
      // The ack goes out when this returns; the trickled candidates follow it.
      setImmediate(() => session.releaseCandidates());
      return { status: 'success', session_id, sdp, sdp_type: 'answer' };
    } catch (e) {
      await session.close('offer failed');
      return { status: 'error', session_id, error: `sdp: cannot answer the offer: ${errorText(e)}` };
    } finally {
      // The idle time starts with the answer (a loaded box took seconds to make it: debug.test, docker26).
      session.answering = false;
      session.lastActivity = monoNow();
    }
  }

  async ice(c: RemoteCandidate): Promise<Ack> {
    const s = this.sessions.get(c.session_id);
    if (!s) return { status: 'error', session_id: c.session_id, error: 'session_id: no such WebRTC session' };
    try {
      await s.pc.addIceCandidate({ candidate: c.candidate ?? '', sdpMid: c.sdp_mid ?? undefined, sdpMLineIndex: c.sdp_mline_index ?? undefined });
      return { status: 'success', session_id: c.session_id };
    } catch (e) {
      return { status: 'error', session_id: c.session_id, error: `candidate: ${errorText(e)}` };
    }
  }

  async disconnect(sessionId: string, reason: string | undefined): Promise<Ack> {
    const s = this.sessions.get(sessionId);
    if (!s) return { status: 'warning', session_id: sessionId, message: 'Session not found' };
    await s.close(reason ? `webrtc:disconnect: ${reason.slice(0, 64)}` : 'webrtc:disconnect');
    return { status: 'success', session_id: sessionId, message: 'Session closed' };
  }

  /** Closes every session (the agent is stopping). */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.close('agent stopping')));
  }
}
