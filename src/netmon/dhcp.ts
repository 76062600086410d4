// DHCP clients for `dhcp` vNICs (CONTRACT §9.1): busybox `udhcpc` inside the runtime's network namespace, on
// the interface with the endpoint's MAC (client id = that MAC, busybox's default, so a reservation follows
// the PLC). udhcpc hands every event to a tiny script that only prints it; netmon applies the lease itself
// (address with its real prefix, default and option-121 routes, MTU, DNS into the runtime's resolv.conf)
// and reports each bind, renew, loss and failure to the agent as a flat `dhcp_update` event.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { writeFileNoFollow } from './safe-write.js';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LineBuffer } from '../line-buffer.js';
import type { NetmonLog } from './daemon.js';
import { DHCP_SCRIPT_DIR_PREFIX } from './dhcp-orphans.js';
import { namespaceIfaces } from './namespace-mac.js';

const run = promisify(execFile);

/** What udhcpc's script prints: the event and the variables busybox sets, tab-separated. */
const SCRIPT = `#!/bin/sh
# udhcpc hands each DHCP event here; netmon (src/netmon/dhcp.ts) applies the lease.
printf 'ORCH_DHCP\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$interface" "$ip" "$mask" "$subnet" "$router" "$dns" "$lease" "$mtu" "$staticroutes"
`;

export interface Lease {
  ip: string;
  prefix: number;
  gateway: string | null;
  dns: string[];
  leaseTime: number | null;
  mtu: number | null;
  /** Option 121: `<net>/<prefix> <gateway>` pairs. */
  routes: { dest: string; via: string }[];
}

export type DhcpEvent = 'bound' | 'renew' | 'lost' | 'failed';

export interface DhcpUpdate {
  type: 'dhcp_update';
  container_name: string;
  vnic_name: string;
  mac_address: string;
  ip: string | null;
  prefix: number | null;
  gateway: string | null;
  dns: string[];
  lease_time: number | null;
  event: DhcpEvent;
  message?: string;
  timestamp: string;
}

/** The lease's DNS servers into the runtime's own /etc/resolv.conf, reached through its root (netmon shares the host's pid namespace). */
export function writeLeaseDns(pid: number, vnic: string, dns: readonly string[]): void {
  if (dns.length === 0) return;
  // The runtime's root is the PLC program's: no link in it is followed, and only address-like lines are written.
  const servers = dns.filter((d) => /^[0-9.]{7,15}$/.test(d));
  if (servers.length === 0) return;
  writeFileNoFollow(`/proc/${pid}/root`, 'etc/resolv.conf', `# from the DHCP lease on ${vnic.replace(/[^A-Za-z0-9_.-]/g, '_')} (orchestrator-agent netmon)\n${servers.map((d) => `nameserver ${d}`).join('\n')}\n`);
}

/** Prefix length from busybox's `mask` (a number) or `subnet` (a dotted netmask). Never "24" → /2. */
export function prefixOf(mask: string, subnet: string): number | null {
  if (/^\d{1,2}$/.test(mask) && Number(mask) <= 32) return Number(mask);
  const parts = subnet.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  const bits = parts.reduce((acc, p) => acc * 256 + p, 0);
  const ones = bits.toString(2).replace(/0+$/, '');
  return /^1*$/.test(ones) ? ones.length : null;
}

/** Who a client's `dhcp_update` events are about. */
export interface LeaseOwner {
  container_name: string;
  vnic_name: string;
  mac_address: string;
}

/** A client's news as the flat `dhcp_update` event (CONTRACT §9.1). */
export function dhcpUpdate(who: LeaseOwner, event: DhcpEvent, l: Lease | null, message?: string): DhcpUpdate {
  return {
    type: 'dhcp_update',
    ...who,
    ip: l?.ip ?? null,
    prefix: l?.prefix ?? null,
    gateway: l?.gateway ?? null,
    dns: l?.dns ?? [],
    lease_time: l?.leaseTime ?? null,
    event,
    ...(message ? { message } : {}),
    timestamp: new Date().toISOString(),
  };
}

/** The state every udhcpc client keeps (in a runtime's namespace, or on a Wi-Fi parent). */
export interface ClientState {
  stopping: boolean;
  bound: Lease | null;
  child: ChildProcess;
}

/** What a client does with its lease. */
export interface LeaseActions {
  /** Puts the lease in place (`fresh`: a new address, or a first bind). */
  apply(l: Lease, fresh: boolean): Promise<void>;
  /** Takes the lost lease's address away. */
  drop(): Promise<void>;
  report(event: DhcpEvent, l: Lease | null, message?: string): void;
  /** A lease is in place: the retry count starts over. */
  settled(): void;
}

/** One line of udhcpc's script: the lease applied or dropped, then reported. Never throws. */
export async function handleScriptLine(c: ClientState, h: LeaseActions, line: string): Promise<void> {
  const p = parseScriptLine(line);
  if (!p || c.stopping) return;
  try {
    if (p.lease) {
      await h.apply(p.lease, p.event === 'bound' || c.bound?.ip !== p.lease.ip);
      c.bound = p.lease;
      h.settled();
      h.report(p.event as 'bound' | 'renew', p.lease);
    } else if (p.event === 'deconfig') {
      if (c.bound) {
        await h.drop();
        c.bound = null;
        h.report('lost', null, 'the lease was lost');
      }
    } else if (p.event === 'leasefail') {
      h.report('failed', null, 'no answer from a DHCP server (retrying)');
    } else if (p.event === 'nak') {
      h.report('failed', null, 'the DHCP server refused the request (NAK; retrying)');
    } else if (p.event === 'invalid') {
      h.report('failed', null, 'the server offered a lease without a usable address or netmask');
    }
  } catch (e) {
    h.report('failed', null, `lease not applied: ${(e as Error).message}`);
  }
}

/** Ends a client: with `release`, udhcpc first sends a DHCPRELEASE (SIGUSR2), then SIGTERM ends it. */
export function endClient(c: ClientState, release: boolean): void {
  c.stopping = true;
  if (c.child.exitCode !== null) return;
  if (!release) {
    c.child.kill('SIGTERM');
    return;
  }
  c.child.kill('SIGUSR2');
  setTimeout(() => c.child.kill('SIGTERM'), 300).unref();
}

/** The script udhcpc runs for its events, written once into a fresh temp dir named `<prefix>…`. */
export function scriptFile(prefix: string, text: string, current: string | null): string {
  if (current && fs.existsSync(current)) return current;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), prefix)), 'event.sh');
  fs.writeFileSync(file, text, { mode: 0o755 });
  return file;
}

/** Removes a script made by scriptFile() with its directory (a client still exiting has it open: harmless). */
export function removeScriptFile(file: string | null): null {
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return null;
}

/** One line of the script's output, as a lease (bound/renew) or just the event. */
export function parseScriptLine(line: string): { event: string; iface: string; lease: Lease | null } | null {
  const f = line.split('\t');
  if (f[0] !== 'ORCH_DHCP' || f.length < 11) return null;
  const [, event, iface, ip, mask, subnet, router, dns, lease, mtu, staticroutes] = f as [string, string, string, string, string, string, string, string, string, string, string];
  if (event !== 'bound' && event !== 'renew') return { event, iface, lease: null };
  const prefix = prefixOf(mask, subnet);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || prefix === null) return { event: 'invalid', iface, lease: null };
  const sr = staticroutes.trim().split(/\s+/).filter(Boolean);
  const routes: Lease['routes'] = [];
  for (let i = 0; i + 1 < sr.length; i += 2) routes.push({ dest: sr[i]!, via: sr[i + 1]! });
  return {
    event,
    iface,
    lease: {
      ip,
      prefix,
      gateway: router.trim().split(/\s+/)[0] || null,
      dns: dns.trim().split(/\s+/).filter(Boolean),
      leaseTime: /^\d+$/.test(lease) ? Number(lease) : null,
      mtu: /^\d+$/.test(mtu) ? Number(mtu) : null,
      routes,
    },
  };
}

interface Client {
  key: string;
  containerName: string;
  vnicName: string;
  pid: number;
  mac: string;
  ifname: string;
  ifindex: number;
  child: ChildProcess;
  bound: Lease | null;
  stopping: boolean;
}

/** A client that exits on its own is started again after 1 s·2ⁿ, capped at 5 min, ±30 % (CONTRACT §9.1). */
export const retryDelayMs = (n: number, rand = Math.random) => Math.min(1000 * 2 ** Math.max(0, n - 1), 300_000) * (0.7 + 0.6 * rand());

export class DhcpClients {
  private readonly clients = new Map<string, Client>();
  /** Consecutive exits per vNIC (reset by a lease) and the pending restart. */
  private readonly retries = new Map<string, { n: number; timer: NodeJS.Timeout | null }>();
  private scriptPath: string | null = null;

  constructor(
    private readonly emit: (ev: DhcpUpdate) => void,
    private readonly log: NetmonLog,
  ) {}

  private script(): string {
    return (this.scriptPath = scriptFile(DHCP_SCRIPT_DIR_PREFIX, SCRIPT, this.scriptPath));
  }

  /**
   * Starts (or keeps) the client of one vNIC; a client of an older namespace or MAC is replaced. `requestIp`:
   * the address of the last lease (a netmon restart keeps the PLC's address: the client asks for it again).
   */
  async start(containerName: string, vnicName: string, pid: number, mac: string, requestIp?: string): Promise<{ ifname: string; started: boolean }> {
    const key = `${containerName}/${vnicName}`;
    const target = (await namespaceIfaces(pid)).find((i) => i.mac.toLowerCase() === mac.toLowerCase());
    if (!target) throw new Error(`no interface with MAC ${mac} in the network namespace of pid ${pid}`);
    const old = this.clients.get(key);
    // The same namespace and the same interface (a re-attach makes a new one): the running client stays.
    if (old && old.pid === pid && old.ifindex === target.ifindex && old.child.exitCode === null && !old.stopping) {
      // An agent that asks again restarted, maybe with its state rebuilt from the containers: it hears the lease again.
      if (old.bound) this.report(old, 'bound', old.bound);
      return { ifname: old.ifname, started: false };
    }
    if (old) this.stopClient(old);
    // Docker's IPAM address is never used on the LAN: gone before the client asks for a lease (a leased
    // address still on the interface after a netmon restart stays while it is asked for again).
    if (!(requestIp !== undefined && target.ipv4.length === 1 && target.ipv4[0] === requestIp)) await nsRun(pid, ['ip', 'addr', 'flush', 'dev', target.ifname]);
    const args = ['-t', String(pid), '-n', 'busybox', 'udhcpc', '-f', '-i', target.ifname, '-s', this.script(), '-t', '3', '-T', '2', '-A', '5', '-x', `hostname:${containerName}`];
    if (requestIp !== undefined) args.push('-r', requestIp);
    const child = spawn('nsenter', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const client: Client = { key, containerName, vnicName, pid, mac, ifname: target.ifname, ifindex: target.ifindex, child, bound: null, stopping: false };
    this.clients.set(key, client);
    const lines = new LineBuffer();
    child.stdout.on('data', (d: Buffer) => {
      for (const line of lines.push(d)) void this.onLine(client, line);
    });
    child.stderr.on('data', () => undefined); // udhcpc's chatter: the events say what matters
    child.on('error', (e) => this.log.warn({ device: containerName, vnic: vnicName, err: e.message }, 'DHCP client could not run'));
    child.on('exit', (code, signal) => {
      if (this.clients.get(key) === client) this.clients.delete(key);
      if (client.stopping) return;
      const r = this.retries.get(key) ?? { n: 0, timer: null };
      r.n += 1;
      const delay = retryDelayMs(r.n);
      this.report(client, 'failed', null, `udhcpc exited (${signal ?? code}); trying again in ${Math.round(delay / 1000)} s`);
      if (r.timer) clearTimeout(r.timer);
      r.timer = setTimeout(() => {
        r.timer = null;
        // Only while the runtime's namespace lives and nobody started another client meanwhile.
        if (this.clients.has(key) || !fs.existsSync(`/proc/${pid}`)) return;
        this.start(containerName, vnicName, pid, mac, client.bound?.ip ?? requestIp).catch((e: unknown) => this.report(client, 'failed', null, (e as Error).message));
      }, delay);
      r.timer.unref();
      this.retries.set(key, r);
    });
    this.log.info({ device: containerName, vnic: vnicName, ifname: target.ifname, mac }, 'DHCP client started');
    return { ifname: target.ifname, started: true };
  }

  /** Stops the clients of a runtime (or of one vNIC), releasing their leases (the runtime is going away). */
  stop(containerName: string, vnicName?: string): number {
    let n = 0;
    for (const c of [...this.clients.values()]) {
      if (c.containerName === containerName && (vnicName === undefined || c.vnicName === vnicName)) {
        this.stopClient(c, true);
        n++;
      }
    }
    return n;
  }

  /** netmon stops: the clients go without releasing (the PLC keeps its address; the next netmon asks again). */
  stopAll(): void {
    for (const c of [...this.clients.values()]) this.stopClient(c);
    this.scriptPath = removeScriptFile(this.scriptPath);
  }

  list(): { container_name: string; vnic_name: string; pid: number; mac_address: string; interface: string; ip: string | null }[] {
    return [...this.clients.values()].map((c) => ({ container_name: c.containerName, vnic_name: c.vnicName, pid: c.pid, mac_address: c.mac, interface: c.ifname, ip: c.bound?.ip ?? null }));
  }

  /** Clients whose runtime is gone (its namespace died with it): stopped, so nothing holds the namespace. */
  reap(): void {
    for (const c of [...this.clients.values()]) if (!fs.existsSync(`/proc/${c.pid}`)) this.stopClient(c);
  }

  private stopClient(c: Client, release = false): void {
    const r = this.retries.get(c.key);
    if (r?.timer) clearTimeout(r.timer);
    this.retries.delete(c.key);
    if (this.clients.get(c.key) === c) this.clients.delete(c.key);
    endClient(c, release);
  }

  private onLine(c: Client, line: string): Promise<void> {
    return handleScriptLine(
      c,
      {
        apply: (l, fresh) => this.apply(c, l, fresh),
        drop: () => nsRun(c.pid, ['ip', 'addr', 'flush', 'dev', c.ifname]).then(() => undefined, () => undefined),
        report: (event, l, message) => this.report(c, event, l, message),
        settled: () => void this.retries.delete(c.key),
      },
      line,
    );
  }

  /** Address with its real prefix, MTU, default route, option-121 routes, DNS into the runtime's resolv.conf. */
  private async apply(c: Client, l: Lease, fresh: boolean): Promise<void> {
    if (fresh) await nsRun(c.pid, ['ip', 'addr', 'flush', 'dev', c.ifname]);
    await nsRun(c.pid, ['ip', 'addr', 'replace', `${l.ip}/${l.prefix}`, 'dev', c.ifname]);
    if (l.mtu !== null) await nsRun(c.pid, ['ip', 'link', 'set', 'dev', c.ifname, 'mtu', String(l.mtu)]);
    if (l.gateway) await nsRun(c.pid, ['ip', 'route', 'replace', 'default', 'via', l.gateway, 'dev', c.ifname]);
    for (const r of l.routes) await nsRun(c.pid, ['ip', 'route', 'replace', r.dest, 'via', r.via, 'dev', c.ifname]);
    writeLeaseDns(c.pid, c.vnicName, l.dns);
  }

  private report(c: Client, event: DhcpEvent, l: Lease | null, message?: string): void {
    this.emit(dhcpUpdate({ container_name: c.containerName, vnic_name: c.vnicName, mac_address: c.mac }, event, l, message));
  }

}

const nsRun = (pid: number, args: string[]) => run('nsenter', ['-t', String(pid), '-n', ...args], { timeout: 5000 });
