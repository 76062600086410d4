// The netmon sidecar (`orchestrator-agent netmon`): watches links, addresses and routes, debounces per
// interface, re-discovers every 30 s, and serves events and commands on a unix socket (mode 0660) to
// any number of clients. It never dies on bad input or on a client that disappears mid-line.
import fs from 'node:fs';
import net from 'node:net';
import { LineBuffer } from '../line-buffer.js';
import { parseCommand } from './command.js';
import { DhcpClients } from './dhcp.js';
import { changeEvent, type Iface } from './iface.js';
import { readIfaces } from './interface-facts.js';
import { LinkMonitor } from './link-monitor.js';
import { namespaceIfaces, setMacByIp } from './namespace-mac.js';

/** What netmon logs through: pino's Logger, or sidecar.ts's small JSON-line logger. */
export interface NetmonLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

const REDISCOVER_MS = 30_000;
const MAX_LINE = 1024 * 1024;

const comparable = (i: Iface) => JSON.stringify({ ...i, timestamp: undefined });

export class NetmonDaemon {
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private last = new Map<string, Iface>();
  private monitor: LinkMonitor | null = null;
  private rediscover: NodeJS.Timeout | null = null;
  private startedAt = Date.now();
  private readonly dhcp: DhcpClients;
  eventsSent = 0;

  constructor(
    private readonly socketPath: string,
    private readonly debounceMs: number,
    private readonly log: NetmonLog,
  ) {
    this.dhcp = new DhcpClients((ev) => this.broadcast(ev), log);
  }

  async start(): Promise<void> {
    const orphans = DhcpClients.killOrphans();
    if (orphans > 0) this.log.warn({ clients: orphans }, 'DHCP clients of a previous netmon ended (the agent starts them again)');
    this.last = new Map((await readIfaces()).map((i) => [i.interface, i]));
    fs.rmSync(this.socketPath, { force: true }); // stale after a crash
    this.server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
    fs.chmodSync(this.socketPath, 0o660);
    this.monitor = new LinkMonitor((iface) => this.changed(iface));
    this.monitor.start();
    this.rediscover = setInterval(() => void this.rediscoverAll(), REDISCOVER_MS);
    this.log.info({ socket: this.socketPath, interfaces: [...this.last.keys()] }, 'netmon started');
  }

  async stop(): Promise<void> {
    this.dhcp.stopAll();
    this.monitor?.stop();
    if (this.rediscover) clearInterval(this.rediscover);
    for (const t of this.timers.values()) clearTimeout(t);
    for (const c of this.clients) c.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private accept(sock: net.Socket): void {
    this.clients.add(sock);
    sock.on('close', () => this.clients.delete(sock));
    sock.on('error', () => this.clients.delete(sock));
    this.send(sock, { type: 'network_discovery', interfaces: [...this.last.values()], timestamp: new Date().toISOString() });
    const lines = new LineBuffer();
    sock.on('data', (d) => {
      for (const line of lines.push(d)) void this.command(line).then((answer) => this.send(sock, answer));
      if (lines.pending > MAX_LINE) {
        lines.clear();
        this.send(sock, { id: null, success: false, error: `line longer than ${MAX_LINE} bytes: discarded` });
      }
    });
  }

  private send(sock: net.Socket, obj: unknown): void {
    if (!sock.destroyed && sock.writable) sock.write(`${JSON.stringify(obj)}\n`);
  }

  private broadcast(obj: unknown): void {
    this.eventsSent++;
    for (const c of this.clients) this.send(c, obj);
  }

  private async command(line: string): Promise<Record<string, unknown>> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return { id: null, success: false, error: 'not JSON' };
    }
    const id = typeof json === 'object' && json !== null && 'id' in json ? (json).id : null;
    const p = parseCommand(json);
    if (!p.ok) {
      const known = typeof json === 'object' && json !== null && typeof (json as { command?: unknown }).command === 'string';
      return { id, success: false, error: known ? `unknown command or bad arguments: ${p.error}` : 'command: missing' };
    }
    const c = p.command;
    try {
      switch (c.command) {
        case 'ping':
          return { id, success: true, pong: true };
        case 'get_status':
          return { id, success: true, uptime: Math.floor((Date.now() - this.startedAt) / 1000), clients: this.clients.size, interfaces: [...this.last.values()] };
        case 'set_mac':
          return { id, success: true, ifname: await setMacByIp(c.pid, c.ip, c.mac), mac: c.mac };
        case 'get_macs':
          return { id, success: true, interfaces: await namespaceIfaces(c.pid) };
        case 'dhcp_start':
          return { id, success: true, ...(await this.dhcp.start(c.container_name, c.vnic_name, c.pid, c.mac, c.request_ip)) };
        case 'dhcp_stop':
          return { id, success: true, stopped: this.dhcp.stop(c.container_name, c.vnic_name) };
        case 'dhcp_status':
          return { id, success: true, clients: this.dhcp.list() };
        default:
          return { id, success: false, error: `${c.command}: not built yet` };
      }
    } catch (e) {
      return { id, success: false, error: (e as Error).message };
    }
  }

  /** A kernel change on `iface` (null: unknown, look at all): debounced per interface. */
  private changed(iface: string | null): void {
    const key = iface ?? '*';
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.report(iface === null ? null : [iface], false);
      }, this.debounceMs),
    );
  }

  private rediscoverAll(): Promise<void> {
    this.dhcp.reap();
    return this.report(null, true);
  }

  /** Reads the facts and sends network_change for the interfaces that changed (all of them when `always`). */
  private async report(names: string[] | null, always: boolean): Promise<void> {
    let now: Iface[];
    try {
      now = await readIfaces();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot read interfaces');
      return;
    }
    const current = new Map(now.map((i) => [i.interface, i]));
    const consider = names ?? [...new Set([...this.last.keys(), ...current.keys()])];
    for (const name of consider) {
      const cur = current.get(name);
      const prev = this.last.get(name);
      if (cur) {
        if (always || !prev || comparable(prev) !== comparable(cur)) this.broadcast(changeEvent(cur));
        this.last.set(name, cur);
      } else if (prev) {
        this.last.delete(name);
        this.broadcast(changeEvent({ ...prev, operstate: 'removed', status: 'removed', ipv4_addresses: [], gateway: null, timestamp: new Date().toISOString() }));
      }
    }
  }
}
