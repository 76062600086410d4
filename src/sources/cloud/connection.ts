// The cloud link: the agent owns the reconnection loop (library reconnection off); every attempt gets a
// fresh socket.io client and everything of the previous one is closed. Exactly one heartbeat loop runs
// per connection. Nothing here touches Docker: topics write desired state or read.
import { io, type Socket } from 'socket.io-client';
import type { Logger } from '../../log.js';
import { reconnectDelayMs } from './backoff.js';
import type { Credentials } from './credentials.js';

export interface CloudLinkOptions {
  url: string;
  transports: ('websocket' | 'polling')[];
  credentials: Credentials;
  log: Logger;
  /** Registers the topic handlers on a fresh socket. */
  register: (socket: Socket) => void;
  /** Called on every successful connect; returns a function that stops what it started. */
  onConnect: (socket: Socket) => () => void;
}

/** What `doctor` reports about the link: connected since when, or the last error and when. */
export interface CloudLinkStatus {
  url: string;
  connected: boolean;
  connectedSince: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export class CloudLink {
  private socket: Socket | null = null;
  private connectedAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopConnection: (() => void) | null = null;
  private everConnected = false;
  private attempt = 0;
  /** Connections made since start (metrics: reconnects are this minus one). */
  connects = 0;
  private stopped = false;
  /** Called once the link connected with credentials given to replaceCredentials. */
  private onNewCredentialsConnected: (() => void) | null = null;

  constructor(private readonly o: CloudLinkOptions) {}

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  status(): CloudLinkStatus {
    const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);
    const connected = this.connected;
    return { url: this.o.url, connected, connectedSince: connected ? iso(this.connectedAt) : null, lastError: this.lastError?.message ?? null, lastErrorAt: iso(this.lastError?.at) };
  }

  start(): void {
    this.connect();
  }

  /** A renewed certificate: reconnect with it now (the old socket closes; runtimes are not involved). */
  replaceCredentials(c: Credentials, connected: () => void): void {
    this.o.credentials = c;
    this.onNewCredentialsConnected = connected;
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.teardown();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.teardown();
  }

  private connect(): void {
    if (this.stopped) return;
    const { credentials: c, log } = this.o;
    const socket = io(this.o.url, {
      transports: this.o.transports,
      reconnection: false,
      forceNew: true,
      timeout: 20_000,
      cert: c.cert.toString(),
      key: c.key.toString(),
      ca: c.ca.map((x) => x.toString()),
      rejectUnauthorized: true, // TLS >= 1.2 is Node's default minimum
    } as unknown as Parameters<typeof io>[1]);
    this.socket = socket;
    this.o.register(socket);
    socket.on('connect', () => {
      this.everConnected = true;
      this.connects++;
      this.attempt = 0;
      this.connectedAt = Date.now();
      this.onNewCredentialsConnected?.();
      this.onNewCredentialsConnected = null;
      log.info({ url: this.o.url, transport: socket.io.engine.transport.name }, 'connected to the cloud');
      this.stopConnection?.();
      this.stopConnection = this.o.onConnect(socket);
    });
    socket.on('connect_error', (err: Error & { description?: unknown }) => {
      // TLS failures hide in the transport's description (an ws ErrorEvent): say which one it was.
      const d = err.description as { message?: unknown; error?: { message?: unknown } } | string | undefined;
      const detail = typeof d === 'string' ? d : typeof d?.error?.message === 'string' ? d.error.message : typeof d?.message === 'string' ? d.message : '';
      this.retry(`cannot connect to the cloud: ${err.message}${detail ? ` (${detail})` : ''}`);
    });
    socket.on('disconnect', (reason) => this.retry(`disconnected from the cloud: ${reason}`));
  }

  private retry(why: string): void {
    if (this.stopped || this.timer) return;
    this.lastError = { message: why, at: Date.now() };
    this.teardown();
    const delay = reconnectDelayMs(this.everConnected, this.attempt);
    this.attempt++;
    this.o.log.warn({ retryInMs: delay }, why);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private teardown(): void {
    this.stopConnection?.();
    this.stopConnection = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.removeAllListeners();
      s.io.removeAllListeners();
      s.disconnect();
      s.io.engine?.close();
    }
  }
}
