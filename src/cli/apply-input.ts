// `apply FILE`, `apply -f FILE`, `validate FILE` (FILE `-` = stdin): the payload read (at most the agent's
// 4 MiB), parsed and validated here, before the agent is asked, with the agent's own rules.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { CREATE_REQUEST_KEYS, normalizeCreateRequest, type RuntimeSpec } from '../domain/runtime-spec.js';
import { InputError, UsageError } from './cli-errors.js';

/** The control socket drops a request line beyond 4 MiB (sources/control/server.ts): the payload's cap. */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** The file of `apply [-f] FILE` from its positionals and its -f value. */
export function applyFile(cmd: string, positionals: readonly string[], f: string | undefined): string {
  if (f !== undefined && positionals.length > 0) throw new UsageError(`${cmd} takes one file; unexpected: ${positionals.join(' ')}`);
  if (positionals.length > 1) throw new UsageError(`${cmd} takes one file; unexpected: ${positionals.slice(1).join(' ')}`);
  const file = f ?? positionals[0];
  if (file === undefined || file === '') throw new UsageError(`${cmd} needs a file (or - for stdin)`);
  return file;
}

const READ_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'no such file (a path component is not a directory)',
};

/** The bytes of `file`, refused beyond `cap` as soon as it is passed (`/dev/zero` stops at once). */
export function readCapped(file: string, cap = MAX_PAYLOAD_BYTES, stdin: Readable = process.stdin): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = file === '-' ? stdin : fs.createReadStream(file);
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (d: Buffer) => {
      size += d.length;
      if (size > cap) {
        stream.destroy();
        reject(new Error(`larger than ${cap / 2 ** 20} MiB, the most the agent takes in one request`));
        return;
      }
      chunks.push(d);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', (e: NodeJS.ErrnoException) => reject(new Error(READ_PROBLEMS[e.code ?? ''] ?? e.message)));
  });
}

/** Reads and parses the payload; every failure is an InputError naming the file and what is wrong. */
export async function readApplyPayload(cmd: string, file: string, stdin?: Readable): Promise<unknown> {
  const name = file === '-' ? '(stdin)' : file;
  let text: string;
  try {
    text = (await readCapped(file, MAX_PAYLOAD_BYTES, stdin)).toString('utf8');
  } catch (e) {
    throw new InputError(`${cmd}: ${name}: cannot read: ${(e as Error).message}`);
  }
  // A BOM is what some Windows editors put first; JSON.parse refuses it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // JSON.parse's message says where ("Unexpected token } in JSON at position 12"); a RangeError is nesting.
    const why = e instanceof RangeError ? 'nested too deeply' : (e as Error).message.split('\n')[0];
    throw new InputError(`${cmd}: ${name}: not valid JSON (${why})`);
  }
}

/** The envelope fields of a cloud message (CONTRACT §4): a payload copied from one may keep them. */
const ENVELOPE = ['correlation_id', 'action', 'requested_at'];

/** Keys the agent does not know, by path (`runtime_verison`, `vnic_configs[0].adress`): a typo is refused, not dropped. */
export function unknownKeys(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return [];
  const out: string[] = [];
  const check = (o: unknown, known: readonly string[], at: string) => {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return;
    for (const k of Object.keys(o)) if (!known.includes(k)) out.push(`${at}${k}`);
  };
  const p = payload as Record<string, unknown>;
  check(p, [...CREATE_REQUEST_KEYS.payload, ...ENVELOPE], '');
  for (const [list, known] of [['vnic_configs', CREATE_REQUEST_KEYS.vnic], ['serial_configs', CREATE_REQUEST_KEYS.serial]] as const) {
    const items = p[list];
    if (Array.isArray(items)) items.forEach((item, i) => check(item, known, `${list}[${i}].`));
  }
  return out;
}

/** The payload checked as the agent checks it, and unknown keys refused: the spec it declares. */
export function validatePayload(cmd: string, name: string, payload: unknown): RuntimeSpec {
  const unknown = unknownKeys(payload);
  if (unknown.length > 0) throw new InputError(`${cmd}: ${name}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const n = normalizeCreateRequest(payload);
  if (!n.ok) throw new InputError(`${cmd}: ${name}: ${n.error}`);
  return n.spec;
}

/** `apply --dry-run` / `validate` for a person: what would be declared. */
export function renderSpec(spec: RuntimeSpec): string {
  const lines = [`${spec.name}: valid; would declare image tag ${spec.runtimeVersion}`];
  for (const v of spec.vnics) {
    const addr = v.mode === 'static' ? `static ${v.ip ?? '-'}${v.subnet ? ` subnet ${v.subnet}` : ''}${v.gateway ? ` gateway ${v.gateway}` : ''}` : 'dhcp';
    lines.push(`  vnic ${v.name} on ${v.parentInterface}: ${addr}${v.mac ? ` mac ${v.mac}` : ''}${v.dns.length ? ` dns ${v.dns.join(',')}` : ''}`);
  }
  for (const s of spec.serialConfigs ?? []) lines.push(`  serial ${s.name}: ${s.deviceId} -> ${s.containerPath}${s.baudRate ? ` at ${s.baudRate} baud` : ''}`);
  if (spec.dedicatedInterface) lines.push(`  dedicated interface ${spec.dedicatedInterface}`);
  return `${lines.join('\n')}\n`;
}
