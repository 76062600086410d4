// Secrets out of what the support bundle collects. JSON: the logger's secret names (log.ts) at any depth,
// header names, `key`/`cert`/`ca` holding PEM text, run_command bodies (`body`), and container env values
// whose name looks secret. Text (log lines, anything): PEM private key blocks and JWTs wherever they are.
import { CENSORED, SECRET_HEADERS, SECRET_LEAVES } from '../log.js';

const SECRET_NAMES = new Set([...SECRET_LEAVES, ...SECRET_HEADERS].map((n) => n.toLowerCase()));
const MATERIAL = new Set(['key', 'cert', 'ca']);
/** run_command request and response bodies: whatever the cloud sent to or got from a PLC. */
const BODIES = new Set(['body', 'body_base64', 'data_base64']);
/** An env entry `NAME=value` whose NAME says it holds a secret. */
const SECRET_ENV = /^([A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH)[A-Za-z0-9_]*)=.*/i;

const PEM_PRIVATE = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
// Three base64url parts, the first a JSON header (`{"` is `eyJ`).
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

export function redactText(s: string): string {
  return s.replace(PEM_PRIVATE, `-----BEGIN $1PRIVATE KEY----- ${CENSORED} -----END $1PRIVATE KEY-----`).replace(JWT, CENSORED);
}

export function redactValue(v: unknown, key?: string): unknown {
  const k = key?.toLowerCase();
  if (k !== undefined && (SECRET_NAMES.has(k) || BODIES.has(k))) return v === null || v === undefined ? v : CENSORED;
  if (k !== undefined && MATERIAL.has(k) && typeof v === 'string' && v.includes('-----BEGIN')) return CENSORED;
  if (typeof v === 'string') return redactText(v);
  if (Array.isArray(v)) return v.map((x) => (k === 'env' && typeof x === 'string' ? redactText(x.replace(SECRET_ENV, `$1=${CENSORED}`)) : redactValue(x)));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, redactValue(vv, kk)]));
  return v;
}

/** One JSON log line per line: parsed lines are redacted as values, others as text (a PEM block spans lines: first). */
export function redactLogLines(s: string): string {
  return redactText(s)
    .split('\n')
    .map((line) => {
      if (!line.startsWith('{')) return redactText(line);
      try {
        return JSON.stringify(redactValue(JSON.parse(line)));
      } catch {
        return redactText(line);
      }
    })
    .join('\n');
}
