// Dedicated NICs (CONTRACT §9.3): a host NIC moved into a runtime's network namespace for raw-frame
// protocols, and back. Netmon runs in the host's network and pid namespaces, so `ip link set … netns`
// from here moves a link out of the host, and `nsenter -t PID -n` acts inside the runtime. The records
// (interface → runtime) live in memory only: after a netmon restart the agent moves the NIC again and
// the "already there" answer records it anew.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import type { Iface } from './iface.js';
import { buildIfaces, type IpAddr } from './interface-facts.js';

const execFileP = promisify(execFile);

/** Runs a command; resolves with stdout, rejects with the command and its stderr in the message. */
export type Run = (cmd: string, args: string[]) => Promise<string>;

export const runCommand: Run = async (cmd, args) => {
  try {
    return (await execFileP(cmd, args, { timeout: 5000, maxBuffer: 4 * 2 ** 20 })).stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`, { cause: e });
  }
};

interface NicRecord {
  container_name: string;
  pid: number;
  /** The namespace's identity at the move (`net:[inode]`): a reused pid is another namespace. */
  netns: string;
}

/** `net:[inode]` of pid's network namespace; null when the process is gone; throws when unreadable. */
const netnsOf = (pid: number | 'self'): string | null => {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`pid ${pid}: cannot read its network namespace (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); netmon needs the host's pid namespace and privileges`, { cause: e });
  }
};
/** For the life checks: unreadable counts as gone. */
const netnsOrNull = (pid: number): string | null => {
  try {
    return netnsOf(pid);
  } catch {
    return null;
  }
};

export class DedicatedNics {
  private readonly records = new Map<string, NicRecord>();

  constructor(
    private readonly log: { info(o: object, msg: string): void },
    private readonly run: Run = runCommand,
  ) {}

  get size(): number {
    return this.records.size;
  }

  /** `ip -j link show dev X` on the host (pid undefined) or in pid's namespace; null when absent there. */
  private async link(name: string, pid?: number): Promise<IpAddr | null> {
    const args = ['-j', 'link', 'show', 'dev', name];
    try {
      const out = await (pid === undefined ? this.run('ip', args) : this.run('nsenter', ['-t', String(pid), '-n', 'ip', ...args]));
      return (JSON.parse(out) as IpAddr[])[0] ?? null;
    } catch {
      return null; // "Device does not exist"
    }
  }

  /** The runtime's namespace, refused when the pid is gone or shares netmon's (host) namespace. */
  private runtimeNetns(pid: number): string {
    const ns = netnsOf(pid);
    if (ns === null) throw new Error(`pid ${pid}: no such process`);
    if (ns === netnsOf('self')) throw new Error(`pid ${pid} is in the host's network namespace, not a runtime's`);
    return ns;
  }

  /** Moves `name` into pid's namespace (or finds it there already) and records it. */
  async move(name: string, pid: number, container_name: string): Promise<{ moved: boolean }> {
    const netns = this.runtimeNetns(pid);
    const other = this.records.get(name);
    if (other && other.pid !== pid && netnsOrNull(other.pid) === other.netns) {
      throw new Error(`interface ${name}: dedicated to ${other.container_name} (pid ${other.pid}); return it first`);
    }
    const ns = ['nsenter', '-t', String(pid), '-n'];
    if (await this.link(name, pid)) {
      await this.run(ns[0]!, [...ns.slice(1), 'ip', 'link', 'set', 'dev', name, 'up']); // idempotent; repairs a move cut short
      this.records.set(name, { container_name, pid, netns });
      return { moved: false };
    }
    if (!(await this.link(name))) throw new Error(`interface ${name}: not found on the host or in the runtime's namespace`);
    // The last guard of CONTRACT §9.3 (the agent checks first): never the link the host's default route leaves by.
    const defaults = JSON.parse((await this.run('ip', ['-j', '-4', 'route', 'show', 'default'])) || '[]') as { dev?: string; nexthops?: { dev?: string }[] }[];
    if (defaults.some((r) => r.dev === name || (r.nexthops ?? []).some((h) => h.dev === name))) {
      throw new Error(`interface ${name}: carries the host's default route; not moved (it would cut the box off)`);
    }
    await this.run('ip', ['link', 'set', 'dev', name, 'down']);
    try {
      await this.run('ip', ['link', 'set', 'dev', name, 'netns', String(pid)]);
    } catch (e) {
      await this.run('ip', ['link', 'set', 'dev', name, 'up']).catch(() => undefined); // as it was
      throw e;
    }
    this.records.set(name, { container_name, pid, netns }); // in the namespace now, up or not
    await this.run(ns[0]!, [...ns.slice(1), 'ip', 'link', 'set', 'dev', name, 'up']);
    this.log.info({ interface: name, pid, device: container_name }, 'NIC moved into the runtime');
    return { moved: true };
  }

  /** Brings `name` back to the host from pid's namespace (given, or the recorded one) and forgets it. */
  async return(name: string, pid?: number): Promise<{ returned: boolean }> {
    const rec = this.records.get(name);
    if (await this.link(name)) {
      this.records.delete(name);
      return { returned: false };
    }
    const from = pid ?? rec?.pid;
    if (from === undefined) throw new Error(`interface ${name}: not on the host and not dedicated to a runtime netmon knows; give the runtime's pid`);
    this.runtimeNetns(from);
    if (!(await this.link(name, from))) {
      if (rec?.pid === from) this.records.delete(name);
      throw new Error(`interface ${name}: not found on the host or in the namespace of pid ${from}`);
    }
    const ns = ['-t', String(from), '-n'];
    await this.run('nsenter', [...ns, 'ip', 'link', 'set', 'dev', name, 'down']).catch(() => undefined); // best effort
    // Netmon's own pid names the host's network namespace (it runs there); pid 1 might not, in a test.
    await this.run('nsenter', [...ns, 'ip', 'link', 'set', 'dev', name, 'netns', String(process.pid)]);
    this.records.delete(name);
    await this.run('ip', ['link', 'set', 'dev', name, 'up']);
    this.log.info({ interface: name, pid: from, device: rec?.container_name }, 'NIC returned to the host');
    return { returned: true };
  }

  /** Recorded NICs whose runtime is gone (its pid ended or now names another namespace). */
  gone(): string[] {
    return [...this.records].filter(([, r]) => netnsOrNull(r.pid) !== r.netns).map(([n]) => n);
  }

  /**
   * The host's interfaces plus each recorded NIC as seen inside its runtime (`dedicated_to`, no IPv4,
   * no gateway). A record is dropped when its NIC is on the host again (the runtime died and the kernel
   * gave it back, or someone moved it), when the runtime is gone, or when the NIC left its namespace.
   */
  async facts(host: Iface[], now = new Date()): Promise<Iface[]> {
    const out = [...host];
    for (const [name, r] of [...this.records]) {
      let why: string | null = null;
      let link: IpAddr | null = null;
      if (host.some((i) => i.interface === name)) why = 'it is on the host again';
      else if (netnsOrNull(r.pid) !== r.netns) why = 'its runtime is gone';
      else if (!(link = await this.link(name, r.pid))) why = "it left the runtime's namespace";
      if (why !== null || link === null) {
        if (this.records.get(name) === r) this.records.delete(name);
        this.log.info({ interface: name, device: r.container_name, pid: r.pid }, `dedicated NIC forgotten: ${why ?? ''}`);
        continue;
      }
      const [seen] = buildIfaces([{ ...link, addr_info: [] }], [], new Set(), now);
      out.push({
        ...(seen ?? { interface: name, index: link.ifindex, operstate: 'up', type: 'ethernet', mac_address: link.address ?? null, timestamp: now.toISOString() }),
        ipv4_addresses: [],
        gateway: null,
        dedicated_to: r.container_name,
      });
    }
    return out;
  }
}

/** `ip -j route get ADDRESS`: the interface (and gateway) the host would use to reach it. */
export async function routeGet(address: string, run: Run = runCommand): Promise<{ interface: string; gateway: string | null }> {
  const [r] = JSON.parse(await run('ip', ['-j', 'route', 'get', address])) as { dev?: string; gateway?: string }[];
  if (!r?.dev) throw new Error(`no route to ${address}`);
  return { interface: r.dev, gateway: r.gateway ?? null };
}
