// ORCH_METRICS_LISTEN: where the metrics endpoint listens (loopback TCP or a unix socket, never the LAN).
import net from 'node:net';

export type MetricsListen = { host: string; port: number } | { path: string };

/** `127.0.0.1:9469`, `[::1]:9469`, `localhost:9469` or `unix:/path`; null when unset; a string says what is wrong. */
export function parseMetricsListen(v: string | undefined): MetricsListen | null | string {
  const s = (v ?? '').trim();
  if (s === '') return null;
  if (s.startsWith('unix:')) {
    const p = s.slice('unix:'.length);
    return p.startsWith('/') ? { path: p } : `expected unix:/absolute/path, got "${s.slice(0, 64)}"`;
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) return `expected HOST:PORT on loopback (e.g. 127.0.0.1:9469) or unix:/path, got "${s.slice(0, 64)}"`;
  const host = (m[1] ?? m[2])!;
  const loopback = host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
  if (!loopback) return `metrics are served on loopback or a unix socket only, got "${host.slice(0, 64)}" (use 127.0.0.1)`;
  return { host, port };
}

export const listenText = (l: MetricsListen) => ('path' in l ? `unix:${l.path}` : `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`);
