// Agent configuration from the environment (CONTRACT §2), validated once at start.
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import * as z from 'zod';
import { parseMetricsListen, type MetricsListen } from './metrics/listen.js';

/** ORCH_MAX_ACK_BYTES's default: under Socket.IO's default maxHttpBufferSize of 1e6 with room for framing. */
export const DEFAULT_MAX_ACK_BYTES = 999_000;
/** ORCH_MAX_INFLIGHT_BYTES's default: four 16 MiB bodies; the session limit defaults to half of it. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 2 ** 20;

/** ORCH_CONTAINER_LOG's default: Docker's json-file driver (what `docker logs` and log shippers read), 3 × 10 MB. */
export const DEFAULT_CONTAINER_LOG = 'json-file:max-size=10m,max-file=3';

/** A container's HostConfig.LogConfig; null = the engine's default. */
export type ContainerLog = { Type: string; Config: Record<string, string> } | null;

/** `daemon`, or `<driver>[:key=value,…]`; a string is what is wrong. */
export function parseContainerLog(v: string): ContainerLog | string {
  const text = v.trim();
  if (text === 'daemon') return null;
  const m = /^([a-z0-9][a-z0-9_.-]*)(?::(.*))?$/.exec(text);
  const bad = `expected "daemon" or <driver>[:key=value,…] such as "${DEFAULT_CONTAINER_LOG}", got "${v.slice(0, 64)}"`;
  if (!m) return bad;
  const Config: Record<string, string> = {};
  for (const pair of (m[2] ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const kv = /^([a-z0-9][a-z0-9_.-]*)=([^\s,]+)$/.exec(pair);
    if (!kv) return bad;
    Config[kv[1]!] = kv[2]!;
  }
  // json-file without max-size is the unbounded log this setting exists to prevent.
  if (m[1] === 'json-file' && Config['max-size'] === undefined) return `json-file needs max-size (e.g. "${DEFAULT_CONTAINER_LOG}"), got "${v.slice(0, 64)}"`;
  return { Type: m[1]!, Config };
}

const positiveInt = (name: string, def: number, unit = 'milliseconds', min = 1) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      if (!/^\d+$/.test(v) || Number(v) < min) {
        ctx.addIssue({ code: 'custom', message: `${name}: must be a ${min > 1 ? `whole number of ${unit}, at least ${min}` : `positive whole number of ${unit}`}, got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return Number(v);
    });

const envSchema = z.object({
  ORCH_CLOUD_URL: z.string().default('https://api.autonomylogic.com:3001'),
  ORCH_MTLS_DIR: z.string().optional(),
  // The installer's --server: certificate renewal is off without it.
  ORCH_ENROLL_URL: z.string().optional(),
  ORCH_DATA_DIR: z.string().default('/var/orchestrator'),
  ORCH_NETMON_SOCKET: z.string().optional(),
  DOCKER_HOST: z.string().default('unix:///var/run/docker.sock'),
  ORCH_RUNTIME_IMAGE: z.string().min(1).default('ghcr.io/autonomy-logic/openplc-runtime'),
  ORCH_RUNTIME_PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 8443;
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `ORCH_RUNTIME_PORT: must be an integer 1-65535, got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return n;
    }),
  ORCH_HEARTBEAT_INTERVAL_MS: positiveInt('ORCH_HEARTBEAT_INTERVAL_MS', 5000),
  ORCH_RESYNC_INTERVAL_MS: positiveInt('ORCH_RESYNC_INTERVAL_MS', 30000),
  ORCH_NETMON_DEBOUNCE_MS: positiveInt('ORCH_NETMON_DEBOUNCE_MS', 3000),
  ORCH_NETMON_BOOT_WAIT_MS: positiveInt('ORCH_NETMON_BOOT_WAIT_MS', 60000),
  ORCH_RUN_COMMAND_TIMEOUT_MS: positiveInt('ORCH_RUN_COMMAND_TIMEOUT_MS', 30000),
  ORCH_RUNTIME_READY_TIMEOUT_MS: positiveInt('ORCH_RUNTIME_READY_TIMEOUT_MS', 120000),
  ORCH_UPDATE_GATE_S: positiveInt('ORCH_UPDATE_GATE_S', 120),
  // An error ack must still fit, hence the floor.
  ORCH_MAX_ACK_BYTES: positiveInt('ORCH_MAX_ACK_BYTES', DEFAULT_MAX_ACK_BYTES, 'bytes', 1024),
  ORCH_LEGACY_EMITS: z.enum(['0', '1']).default('1'),
  ORCH_SERIAL_MAJORS: z
    .string()
    .default('188,166,4')
    .transform((v, ctx) => {
      const list = v.split(',').map((s) => s.trim()).filter(Boolean);
      if (list.some((m) => !/^\d{1,4}$/.test(m) || Number(m) > 4095)) {
        ctx.addIssue({ code: 'custom', message: `ORCH_SERIAL_MAJORS: expected a comma list of device major numbers (0-4095), got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return [...new Set(list.map(Number))];
    }),
  ORCH_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  ORCH_CLOUD_TRANSPORTS: z
    .string()
    .default('websocket')
    .transform((v, ctx) => {
      const list = v.split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.find((t) => t !== 'websocket' && t !== 'polling');
      if (bad !== undefined || list.length === 0) {
        ctx.addIssue({ code: 'custom', message: `ORCH_CLOUD_TRANSPORTS: expected a comma list of websocket,polling, got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return list as ('websocket' | 'polling')[];
    }),
  // Unset: the Python agent's two STUN servers; empty: none (host candidates only).
  ORCH_WEBRTC_ICE_SERVERS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const list = (v ?? DEFAULT_ICE_SERVERS).split(',').map((s) => s.trim()).filter(Boolean);
      const servers: IceServer[] = [];
      for (const url of list) {
        const server = parseIceServer(url);
        if (typeof server === 'string') {
          ctx.addIssue({ code: 'custom', message: `ORCH_WEBRTC_ICE_SERVERS: ${server}` });
          return z.NEVER;
        }
        servers.push(server);
      }
      return servers;
    }),
  ORCH_WEBRTC_HOST_ADDRESSES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return null;
      const list = v.split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.find((a) => net.isIP(a) === 0);
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: `ORCH_WEBRTC_HOST_ADDRESSES: expected a comma list of IP addresses, got "${bad.slice(0, 64)}"` });
        return z.NEVER;
      }
      return list;
    }),
  // The disk guard (issue #23): DiskPressure at the high-water mark, image GC down to the low-water mark.
  ORCH_DISK_HIGH_WATER_PERCENT: positiveInt('ORCH_DISK_HIGH_WATER_PERCENT', 90, 'percent'),
  ORCH_DISK_LOW_WATER_PERCENT: positiveInt('ORCH_DISK_LOW_WATER_PERCENT', 80, 'percent'),
  ORCH_DISK_CHECK_INTERVAL_MS: positiveInt('ORCH_DISK_CHECK_INTERVAL_MS', 60_000),
  // Every container the agent creates gets a bounded log (issue #23): `<driver>[:key=value,…]`, or
  // `daemon` for the engine's own default (an operator who set one in daemon.json keeps it).
  ORCH_CONTAINER_LOG: z
    .string()
    .default(DEFAULT_CONTAINER_LOG)
    .transform((v, ctx) => {
      const log = parseContainerLog(v);
      if (typeof log === 'string') {
        ctx.addIssue({ code: 'custom', message: `ORCH_CONTAINER_LOG: ${log}` });
        return z.NEVER;
      }
      return log;
    }),
  // Metrics (issue #23): off unless set; loopback TCP or a unix socket only (src/metrics/server.ts).
  ORCH_METRICS_LISTEN: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const l = parseMetricsListen(v);
      if (typeof l === 'string') {
        ctx.addIssue({ code: 'custom', message: `ORCH_METRICS_LISTEN: ${l}` });
        return z.NEVER;
      }
      return l;
    }),
  // Extension for tests: the WebRTC session idle limit (CONTRACT §9.5 says 300 s).
  ORCH_WEBRTC_IDLE_MS: positiveInt('ORCH_WEBRTC_IDLE_MS', 300_000),
  // Bytes in flight (response bodies, request bodies, WebRTC reassembly): all of the agent, and each session.
  ORCH_MAX_INFLIGHT_BYTES: positiveInt('ORCH_MAX_INFLIGHT_BYTES', DEFAULT_MAX_INFLIGHT_BYTES, 'bytes', 2 ** 20),
  ORCH_MAX_SESSION_INFLIGHT_BYTES: z.string().optional(),
  // Unset: runtime containers get no limit, and existing ones are left as they are.
  ORCH_RUNTIME_MEMORY_LIMIT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return null;
      const n = parseSize(v);
      if (n === null || n < MIN_RUNTIME_MEMORY) {
        ctx.addIssue({ code: 'custom', message: `ORCH_RUNTIME_MEMORY_LIMIT: expected bytes with an optional k, m or g suffix, at least 6m, got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return n;
    }),
  ORCH_RUNTIME_PIDS_LIMIT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return null;
      if (!/^\d{1,9}$/.test(v.trim()) || Number(v) < 1) {
        ctx.addIssue({ code: 'custom', message: `ORCH_RUNTIME_PIDS_LIMIT: must be a positive whole number of processes, got "${v.slice(0, 64)}"` });
        return z.NEVER;
      }
      return Number(v);
    }),
});

/** Docker refuses a memory limit under 6 MiB. */
const MIN_RUNTIME_MEMORY = 6 * 2 ** 20;

/** `512m`, `1g`, `65536k` or plain bytes (binary units, as `docker run --memory`); null when malformed. */
export function parseSize(v: string): number | null {
  const m = /^(\d{1,15})([kmg]?)b?$/i.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
  return Number.isSafeInteger(n) ? n : null;
}

/** The Python agent's STUN servers (upstream §13.19). */
const DEFAULT_ICE_SERVERS = 'stun:stun.l.google.com:19302,stun:stun1.l.google.com:19302';

/** One ICE server as WebRTC stacks take it; TURN credentials come from the URL's userinfo. */
export interface IceServer {
  urls: string;
  username?: string;
  credential?: string;
}

/** `stun:host[:port]` or `turn[s]:[user:pass@]host[:port][?transport=udp|tcp]`; a string is what is wrong. */
export function parseIceServer(url: string): IceServer | string {
  const m = /^(stuns?|turns?):(?:([^@:/\s]*)(?::([^@/\s]*))?@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?(\?transport=(?:udp|tcp))?$/.exec(url);
  if (!m || (m[5] !== undefined && (Number(m[5]) < 1 || Number(m[5]) > 65535))) return `expected stun:host[:port] or turn:user:password@host[:port], got "${url.replace(/^([a-z]+:).*@/i, '$1***@').slice(0, 64)}"`;
  const [, scheme, user, pass, host, port, query] = m;
  if (scheme!.startsWith('stun') && user !== undefined) return `a stun: URL carries no credentials (${scheme}:${host})`;
  const urls = `${scheme}:${host}${port ? `:${port}` : ''}${query ?? ''}`;
  if (user === undefined) return { urls };
  return { urls, username: decodeURIComponent(user), credential: decodeURIComponent(pass ?? '') };
}

export interface Config {
  cloudUrl: string | null; // null = standalone ("off")
  mtlsDir: string;
  /** The enrollment server renewals go to (ORCH_ENROLL_URL); null = renewal off. */
  enrollUrl: string | null;
  /** Where renewed client.crt/client.key live ($ORCH_DATA_DIR/mtls: ORCH_MTLS_DIR is read-only in the container). */
  renewedMtlsDir: string;
  dataDir: string;
  netmonSocket: string;
  controlSocket: string;
  stateFile: string;
  dockerHost: string;
  runtimeImage: string;
  runtimePort: number;
  heartbeatIntervalMs: number;
  resyncIntervalMs: number;
  netmonDebounceMs: number;
  /** At start, how long runtimes whose subnet comes from netmon wait for its first discovery. */
  netmonBootWaitMs: number;
  runCommandTimeoutMs: number;
  /** How long a new runtime version has to answer GET /api/version before it is rolled back. */
  runtimeReadyTimeoutMs: number;
  /** ORCH_UPDATE_GATE_S: how long a new agent has to become ready in a self-update before the old one comes back. */
  updateGateSeconds: number;
  /** The largest ack or event sent to the cloud, in UTF-8 bytes of its JSON (CONTRACT §2). */
  maxAckBytes: number;
  legacyEmits: boolean;
  /** The majors of which a runtime may be granted its matched serial devices (`c <major>:<minor> rwm`, CONTRACT §9.4). */
  serialMajors: number[];
  logLevel: string;
  cloudTransports: ('websocket' | 'polling')[];
  /** ICE servers for WebRTC sessions (CONTRACT §9.5); empty = host candidates only. */
  webrtcIceServers: IceServer[];
  /** The local addresses ICE may offer; null = all but loopback (the stack's default). */
  webrtcHostAddresses: string[] | null;
  /** A WebRTC session with no traffic this long is closed (300 s; ORCH_WEBRTC_IDLE_MS is for tests). */
  webrtcIdleMs: number;
  /** Disk guard: DiskPressure at or above this % used; image GC frees down to diskLowWaterPercent. */
  diskHighWaterPercent: number;
  diskLowWaterPercent: number;
  diskCheckIntervalMs: number;
  metricsListen: MetricsListen | null;
  /** The log driver and options of every runtime container the agent creates (ORCH_CONTAINER_LOG). */
  containerLog: ContainerLog;
  /** The byte budget (src/sources/cloud/byte-budget.ts): all of the agent, and each session. */
  maxInflightBytes: number;
  maxSessionInflightBytes: number;
  /** Runtime containers' memory limit in bytes (swap none beyond it) and pids limit; null = none set. */
  runtimeMemoryLimit: number | null;
  runtimePidsLimit: number | null;
}

export class ConfigError extends Error {}

/** What the read-only and operator commands use: where the agent's files and socket are, and the engine. */
export type CliConfig = Pick<Config, 'dataDir' | 'stateFile' | 'controlSocket' | 'netmonSocket' | 'dockerHost'>;

/**
 * Only the variables of CliConfig, with loadConfig's defaults: a bad setting a command does not use
 * (ORCH_WEBRTC_ICE_SERVERS for `logs`) does not stop it. DOCKER_HOST is checked where it is used.
 */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const dataDir = path.resolve(env.ORCH_DATA_DIR ?? '/var/orchestrator');
  return {
    dataDir,
    stateFile: path.join(dataDir, 'state.json'),
    controlSocket: path.join(dataDir, 'agent.sock'),
    netmonSocket: env.ORCH_NETMON_SOCKET ?? path.join(dataDir, 'netmon.sock'),
    dockerHost: env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const msg = parsed.error.issues
      .map((i) => (i.code === 'custom' ? i.message : `${i.path.join('.')}: ${i.message}`))
      .join('; ');
    throw new ConfigError(`invalid configuration: ${msg}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ORCH_DATA_DIR);
  if (e.ORCH_DISK_HIGH_WATER_PERCENT > 99 || e.ORCH_DISK_LOW_WATER_PERCENT >= e.ORCH_DISK_HIGH_WATER_PERCENT) {
    throw new ConfigError(
      `invalid configuration: ORCH_DISK_LOW_WATER_PERCENT (${e.ORCH_DISK_LOW_WATER_PERCENT}) must be below ORCH_DISK_HIGH_WATER_PERCENT (${e.ORCH_DISK_HIGH_WATER_PERCENT}), which is at most 99`,
    );
  }
  const cloud = e.ORCH_CLOUD_URL.trim();
  // https only (issue #22): the mTLS link is the agent's only authentication of the cloud.
  if (cloud !== 'off' && !/^https:\/\/[^\s/]+/.test(cloud)) {
    throw new ConfigError(`invalid configuration: ORCH_CLOUD_URL: expected an https:// URL or "off", got "${cloud.slice(0, 64)}"`);
  }
  const sessionBytes = e.ORCH_MAX_SESSION_INFLIGHT_BYTES?.trim() ? Number(e.ORCH_MAX_SESSION_INFLIGHT_BYTES.trim()) : Math.floor(e.ORCH_MAX_INFLIGHT_BYTES / 2);
  if (!Number.isSafeInteger(sessionBytes) || !/^\d*$/.test(e.ORCH_MAX_SESSION_INFLIGHT_BYTES?.trim() ?? '') || sessionBytes < 2 ** 20 || sessionBytes > e.ORCH_MAX_INFLIGHT_BYTES) {
    throw new ConfigError(`invalid configuration: ORCH_MAX_SESSION_INFLIGHT_BYTES: must be a whole number of bytes from 1048576 to ORCH_MAX_INFLIGHT_BYTES (${e.ORCH_MAX_INFLIGHT_BYTES}), got "${String(e.ORCH_MAX_SESSION_INFLIGHT_BYTES ?? sessionBytes).slice(0, 64)}"`);
  }
  const enroll = (e.ORCH_ENROLL_URL ?? '').trim().replace(/\/+$/, '');
  if (enroll !== '' && !/^https:\/\/[^\s/]+/.test(enroll)) {
    throw new ConfigError(`invalid configuration: ORCH_ENROLL_URL: expected an https:// URL, got "${enroll.slice(0, 64)}"`);
  }
  return {
    cloudUrl: cloud === 'off' ? null : cloud,
    mtlsDir: e.ORCH_MTLS_DIR ?? path.join(os.homedir(), '.mtls'),
    enrollUrl: enroll === '' ? null : enroll,
    renewedMtlsDir: path.join(dataDir, 'mtls'),
    dataDir,
    netmonSocket: e.ORCH_NETMON_SOCKET ?? path.join(dataDir, 'netmon.sock'),
    controlSocket: path.join(dataDir, 'agent.sock'),
    stateFile: path.join(dataDir, 'state.json'),
    dockerHost: e.DOCKER_HOST,
    runtimeImage: e.ORCH_RUNTIME_IMAGE,
    runtimePort: e.ORCH_RUNTIME_PORT,
    heartbeatIntervalMs: e.ORCH_HEARTBEAT_INTERVAL_MS,
    resyncIntervalMs: e.ORCH_RESYNC_INTERVAL_MS,
    netmonDebounceMs: e.ORCH_NETMON_DEBOUNCE_MS,
    netmonBootWaitMs: e.ORCH_NETMON_BOOT_WAIT_MS,
    runCommandTimeoutMs: e.ORCH_RUN_COMMAND_TIMEOUT_MS,
    runtimeReadyTimeoutMs: e.ORCH_RUNTIME_READY_TIMEOUT_MS,
    updateGateSeconds: e.ORCH_UPDATE_GATE_S,
    maxAckBytes: e.ORCH_MAX_ACK_BYTES,
    legacyEmits: e.ORCH_LEGACY_EMITS === '1',
    serialMajors: e.ORCH_SERIAL_MAJORS,
    logLevel: e.ORCH_LOG_LEVEL,
    cloudTransports: e.ORCH_CLOUD_TRANSPORTS,
    webrtcIceServers: e.ORCH_WEBRTC_ICE_SERVERS,
    webrtcHostAddresses: e.ORCH_WEBRTC_HOST_ADDRESSES,
    webrtcIdleMs: e.ORCH_WEBRTC_IDLE_MS,
    containerLog: e.ORCH_CONTAINER_LOG,
    diskHighWaterPercent: e.ORCH_DISK_HIGH_WATER_PERCENT,
    diskLowWaterPercent: e.ORCH_DISK_LOW_WATER_PERCENT,
    diskCheckIntervalMs: e.ORCH_DISK_CHECK_INTERVAL_MS,
    metricsListen: e.ORCH_METRICS_LISTEN,
    maxInflightBytes: e.ORCH_MAX_INFLIGHT_BYTES,
    maxSessionInflightBytes: sessionBytes,
    runtimeMemoryLimit: e.ORCH_RUNTIME_MEMORY_LIMIT,
    runtimePidsLimit: e.ORCH_RUNTIME_PIDS_LIMIT,
  };
}
