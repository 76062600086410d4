// Commands to netmon (CONTRACT §6), checked by hand so that the sidecar needs no zod; the same rules as
// protocol.ts's commandSchema (a unit test holds the two together).
export type NetmonCommand =
  | { command: 'ping'; id?: unknown }
  | { command: 'get_status'; id?: unknown }
  | { command: 'set_mac'; id?: unknown; pid: number; ip: string; mac: string }
  | { command: 'get_macs'; id?: unknown; pid: number };

const IP = /^\d{1,3}(\.\d{1,3}){3}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const isPid = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The command, or why it is refused. */
export function parseCommand(json: unknown): { ok: true; command: NetmonCommand } | { ok: false; error: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: 'expected an object' };
  const o = json as Record<string, unknown>;
  const id = 'id' in o ? { id: o.id } : {}; // an absent id stays absent, as zod leaves it
  switch (o.command) {
    case 'ping':
    case 'get_status':
      return { ok: true, command: { command: o.command, ...id } };
    case 'get_macs':
      return isPid(o.pid) ? { ok: true, command: { command: 'get_macs', ...id, pid: o.pid } } : { ok: false, error: 'pid: expected a positive integer' };
    case 'set_mac':
      if (!isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      if (typeof o.ip !== 'string' || !IP.test(o.ip)) return { ok: false, error: 'ip: expected a dotted IPv4 address' };
      if (typeof o.mac !== 'string' || !MAC.test(o.mac)) return { ok: false, error: 'mac: expected six lower-case hex pairs separated by ":"' };
      return { ok: true, command: { command: 'set_mac', ...id, pid: o.pid, ip: o.ip, mac: o.mac } };
    default:
      return { ok: false, error: typeof o.command === 'string' ? `command: unknown "${o.command.slice(0, 64)}"` : 'command: expected a string' };
  }
}
