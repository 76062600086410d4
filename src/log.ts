// One pino logger for the process: JSON lines on stdout, collected by Docker or journald (the agent's
// also goes to rotated files: log-files.ts).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Only secrets are masked. Names that always hold one are masked outright. `key`, `cert` and `ca` are
// ambiguous: the reconciler's step key (`runtime/plc1`) must stay readable, so under those names only
// certificate material (PEM text or raw bytes) is masked. pino's paths are exact (a `*` is one
// level), hence each name at the top, one and two levels down.
// `credential`/`credentials`: a WebRTC ICE server's (TURN) and a debug session's credentials.
export const SECRET_LEAVES = [
  'password', 'passwd', 'passphrase', 'token', 'access_token', 'refresh_token', 'accessToken', 'refreshToken', 'session_token', 'sessionToken',
  'jwt', 'secret', 'client_secret', 'api_key', 'apiKey', 'privateKey', 'private_key', 'authorization', 'Authorization', 'credential', 'credentials',
];
export const SECRET_HEADERS = ['authorization', 'Authorization', 'cookie', 'Cookie', 'set-cookie', 'Set-Cookie', 'proxy-authorization', 'Proxy-Authorization', 'x-api-key', 'X-Api-Key'];
const MATERIAL_LEAVES = new Set(['key', 'cert', 'ca']);

const atDepths = (path: string) => [path, `*.${path}`, `*.*.${path}`];

export const REDACT_PATHS: string[] = [
  ...SECRET_LEAVES.flatMap(atDepths),
  ...SECRET_HEADERS.flatMap((h) => atDepths(`headers["${h}"]`)),
  ...[...MATERIAL_LEAVES].flatMap(atDepths),
];

export const CENSORED = '[Redacted]';

const isMaterial = (v: unknown): boolean =>
  (typeof v === 'string' && v.includes('-----BEGIN')) || v instanceof Uint8Array || (Array.isArray(v) && v.some(isMaterial));

function censor(value: unknown, path: string[]): unknown {
  return MATERIAL_LEAVES.has(path[path.length - 1]!) && !isMaterial(value) ? value : CENSORED;
}

export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid, ...base }, redact: { paths: REDACT_PATHS, censor } };
  return destination ? pino(options, destination) : pino(options);
}
