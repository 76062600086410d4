// The netmon sidecar's own entry point: it loads only the daemon (no zod, no pino, none of main.ts's
// imports) so that the sidecar stays near a bare node process (docs/performance.md: 40 MiB VmRSS bare,
// zod +14, pino +9). Configuration is read from the same variables, with config.ts's rules and
// messages for those it uses; logs are pino-compatible JSON lines ({level, time, pid, component, msg}).
// main.ts hands `netmon` to netmonCommand() before it loads anything else (in the bundle this module is a
// file of its own that statically imports no library: test/unit/bundle.test.ts).
import path from 'node:path';
import { startIdleGc } from '../idle-gc.js';
import { lightSettingsWarning } from '../light-settings.js';
import { NetmonDaemon, type NetmonLog } from './daemon.js';
import { DEFAULT_BY_ID_DIR, DEFAULT_SERIAL_GLOBS, parseSerialGlobs, type SerialGlob } from './serial.js';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export class ConfigError extends Error {}

export interface SidecarConfig {
  socketPath: string;
  debounceMs: number;
  logLevel: string;
  /** ORCH_NETMON_SERIAL_GLOBS, else ttyUSB*, ttyACM*, ttyS* (minor ≥ 64) under /dev (CONTRACT §9.4). */
  serialGlobs: readonly SerialGlob[];
  serialByIdDir: string;
  /** ORCH_NETMON_WIFI_INTERFACES: Wi-Fi whatever sysfs says (CONTRACT §9.2). */
  wifiInterfaces: string[];
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * ORCH_NETMON_SOCKET (default $ORCH_DATA_DIR/netmon.sock), ORCH_NETMON_DEBOUNCE_MS (3000), ORCH_LOG_LEVEL
 * (info), ORCH_NETMON_SERIAL_GLOBS, ORCH_NETMON_SERIAL_BY_ID_DIR (/dev/serial/by-id),
 * ORCH_NETMON_WIFI_INTERFACES (none). An empty value is the default.
 */
export function sidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const dataDir = path.resolve(env.ORCH_DATA_DIR || '/var/orchestrator');
  const d = env.ORCH_NETMON_DEBOUNCE_MS;
  if (d !== undefined && d !== '' && (!/^\d+$/.test(d) || Number(d) < 1)) {
    throw new ConfigError(`invalid configuration: ORCH_NETMON_DEBOUNCE_MS: must be a positive whole number of milliseconds, got "${d.slice(0, 64)}"`);
  }
  const level = env.ORCH_LOG_LEVEL || 'info';
  if (!(level in LEVELS)) throw new ConfigError(`invalid configuration: ORCH_LOG_LEVEL: expected one of ${Object.keys(LEVELS).join(', ')}, got "${level.slice(0, 64)}"`);
  const globs = env.ORCH_NETMON_SERIAL_GLOBS ? parseSerialGlobs(env.ORCH_NETMON_SERIAL_GLOBS) : DEFAULT_SERIAL_GLOBS;
  if (typeof globs === 'string') throw new ConfigError(`invalid configuration: ORCH_NETMON_SERIAL_GLOBS: ${globs}`);
  const byId = env.ORCH_NETMON_SERIAL_BY_ID_DIR || DEFAULT_BY_ID_DIR;
  if (!path.isAbsolute(byId)) throw new ConfigError(`invalid configuration: ORCH_NETMON_SERIAL_BY_ID_DIR: expected an absolute path, got "${byId.slice(0, 64)}"`);
  const wifi = (env.ORCH_NETMON_WIFI_INTERFACES ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  const badWifi = wifi.find((n) => !IFNAME.test(n));
  if (badWifi !== undefined) {
    throw new ConfigError(`invalid configuration: ORCH_NETMON_WIFI_INTERFACES: "${badWifi.slice(0, 64)}" is not an interface name (1 to 15 characters from A-Z a-z 0-9 _ . -)`);
  }
  return {
    socketPath: env.ORCH_NETMON_SOCKET || path.join(dataDir, 'netmon.sock'),
    debounceMs: d ? Number(d) : 3000,
    logLevel: level,
    serialGlobs: globs,
    serialByIdDir: path.normalize(byId).replace(/(.)\/$/, '$1'),
    wifiInterfaces: wifi,
  };
}

/** JSON lines on stdout in pino's shape (level numbers, epoch ms `time`), for the same collectors. */
export function lineLogger(level: string, write: (line: string) => void = (l) => void process.stdout.write(l)): NetmonLog {
  const min = LEVELS[level] ?? 30;
  const at = (n: number) => (o: object, msg: string) => {
    if (n >= min) write(`${JSON.stringify({ level: n, time: Date.now(), pid: process.pid, component: 'netmon', ...o, msg })}\n`);
  };
  return { info: at(30), warn: at(40) };
}

export async function runNetmonSidecar(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = sidecarConfig(env);
  const log = lineLogger(config.logLevel);
  const light = lightSettingsWarning();
  if (light) log.warn({}, light);
  const daemon = new NetmonDaemon(config.socketPath, config.debounceMs, log, {
    serial: { globs: config.serialGlobs, byIdDir: config.serialByIdDir },
    wifiInterfaces: config.wifiInterfaces,
  });
  await daemon.start();
  const idleGc = startIdleGc();
  const stop = () => {
    idleGc.stop();
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** `orchestrator-agent netmon`: a configuration error is one line and exit 2. */
export function netmonCommand(): void {
  runNetmonSidecar().catch((e: unknown) => {
    process.stderr.write(`orchestrator-agent netmon: ${e instanceof ConfigError ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exitCode = e instanceof ConfigError ? 2 : 1;
  });
}
