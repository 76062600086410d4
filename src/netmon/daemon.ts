// The netmon sidecar (`orchestrator-agent netmon`): watches links, addresses and routes, debounces per
// interface, re-discovers every 30 s, watches serial devices (serial.ts), keeps dedicated NICs (nic.ts),
// and serves events and commands on a unix socket (mode 0660) to any number of clients. It never dies
// on bad input or on a client that disappears mid-line.
import { monoNow } from '../clock.js';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineBuffer } from '../line-buffer.js';
import { VERSION } from '../version.js';
import { predictEngineUlimits } from '../reconcilers/engine-ulimits.js';
import { parseCommand } from './command.js';
import type { DhcpClients } from './dhcp.js';
import { killOrphanDhcpClients } from './dhcp-orphans.js';
import { changeEvent, type Iface } from './iface.js';
import { factsSignature } from './facts-signature.js';
import { readFacts } from './interface-facts.js';
import { LinkMonitor } from './link-monitor.js';
import { namespaceIfaces, setMacOnParent } from './namespace-mac.js';
import { DedicatedNics, routeGet } from './nic.js';
import type { ProxyArpPaths, WifiDhcpClients } from './proxy-arp.js';
import { grantDevice, makeDeviceNode, removeDeviceNode } from './device-node.js';
import { DEFAULT_BY_ID_DIR, DEFAULT_SERIAL_GLOBS, SerialWatcher, type SerialChange, type SerialScanConfig } from './serial.js';

/** What netmon logs through: pino's Logger, or sidecar.ts's small JSON-line logger. */
export interface NetmonLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface NetmonOptions {
  serial?: SerialScanConfig;
  /** ORCH_NETMON_WIFI_INTERFACES. */
  wifiInterfaces?: readonly string[];
}

const REDISCOVER_MS = 30_000;
/**
 * A re-discovery reads with `ip` only when the facts' signature changed since the last read
 * (facts-signature.ts), when the last read had something the signature cannot vouch for, or when the last
 * read is this old: what the signature misses (a route made multipath through the same first nexthop)
 * still shows within 5 minutes.
 */
const FULL_READ_MS = 300_000;
/**
 * The kernel files are compared this often (link-monitor.ts): a change waits for the next look, then for
 * the debounce. A look costs ~0.15 ms of CPU in a tight loop with 10 runtimes (their bridges and veths
 * fill /sys/class/net, /proc/net/route and fib_trie; ~1.1 ms at cadence with 50): bench/link-monitor.bench.ts.
 * Waking node at all costs more on a VM like the test machine's: a bare 2 s setInterval used 0.04–0.05 %
 * of a core there, most of netmon's idle CPU now (docs/performance.md, "netmon idle CPU").
 */
const LOOK_EVERY_MS = 2000;
/** How often a dedicated NIC's runtime is checked for life (a readlink per NIC): its NIC leaves the facts soon after.
 * Armed only while a NIC is dedicated: a timer that wakes netmon every 2 s cost ~0.02 % of a core by itself. */
const NIC_CHECK_MS = 2000;
const MAX_LINE = 1024 * 1024;

const comparable = (i: Iface) => JSON.stringify({ ...i, timestamp: undefined });

export class NetmonDaemon {
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  // Reports wanted and not yet made: one facts read at a time, whatever came due meanwhile folded into the
  // next. A burst of link events (50 runtimes created: 100+ bridges and veths within seconds) made one
  // `ip -j addr` read and JSON parse per interface at once, and V8 kept the peak (netmon at 80 MiB).
  private readonly due = new Set<string>();
  private dueAll = false;
  private dueAlways = false;
  /** A request that must read with `ip` (every one but the re-discovery's) is among those due. */
  private dueFresh = false;
  private draining = false;
  private last = new Map<string, Iface>();
  /** The last `ip` read: its facts, the signature taken just before it, and whether that signature vouches for them. */
  private lastRead: { signature: string; ifaces: Iface[]; mono: number; vouched: boolean } | null = null;
  private monitor: LinkMonitor | null = null;
  private rediscover: NodeJS.Timeout | null = null;
  private nicCheck: NodeJS.Timeout | null = null;
  private readonly serial: SerialWatcher;
  private readonly nics: DedicatedNics;
  private readonly wifi: readonly string[];
  private startedAt = monoNow(); // monotonic: uptime is a duration
  // DHCP clients and Wi-Fi paths load on their first command (or at start when paths of a previous netmon
  // are on record): a box without `dhcp` vNICs or Wi-Fi parents never loads their code (issue #12).
  private dhcp: Promise<DhcpClients> | null = null;
  private wifiPaths: Promise<{ proxyArp: ProxyArpPaths; wifiDhcp: WifiDhcpClients }> | null = null;
  private readonly proxyArpStateFile: string;
  eventsSent = 0;
  /** Host facts read so far (`ip -j addr` + routes): get_status tells, so a burst's coalescing can be seen.
   * A re-discovery that finds the signature unchanged reads nothing and is not counted. */
  factsReads = 0;

  constructor(
    private readonly socketPath: string,
    private readonly debounceMs: number,
    private readonly log: NetmonLog,
    options: NetmonOptions = {},
  ) {
    this.wifi = options.wifiInterfaces ?? [];
    this.nics = new DedicatedNics(log);
    // Ownership of what the paths changed on the host outlives a netmon restart (earlier sysctl values).
    this.proxyArpStateFile = path.join(path.dirname(socketPath), 'netmon-proxy-arp.json');
    this.serial = new SerialWatcher(options.serial ?? { globs: DEFAULT_SERIAL_GLOBS, byIdDir: DEFAULT_BY_ID_DIR }, (c) => this.serialChanged(c), log);
  }

  private dhcpClients(): Promise<DhcpClients> {
    return (this.dhcp ??= import('./dhcp.js').then(({ DhcpClients }) => new DhcpClients((ev) => this.broadcast(ev), this.log)));
  }

  private paths(): Promise<{ proxyArp: ProxyArpPaths; wifiDhcp: WifiDhcpClients }> {
    return (this.wifiPaths ??= import('./proxy-arp.js').then(({ ProxyArpPaths, WifiDhcpClients }) => {
      const proxyArp = new ProxyArpPaths({ log: this.log, stateFile: this.proxyArpStateFile });
      proxyArp.load(); // logs what it took over
      // A Wi-Fi lease builds, moves or drops a path: what netmon owns travels with the event (CONTRACT §9.2).
      const wifiDhcp = new WifiDhcpClients(proxyArp, (ev) => this.broadcast({ ...ev, host_changes: proxyArp.hostChanges() }), this.log);
      return { proxyArp, wifiDhcp };
    }));
  }

  /** Host facts with the dedicated NICs (nic.ts) in place of their absence. `reuse`: the last read's facts,
   * stamped now, when nothing they are made of has changed since (facts-signature.ts). */
  private async facts(reuse = false): Promise<Iface[]> {
    const signature = factsSignature(); // before the read: a change during it shows next time
    const last = this.lastRead;
    if (reuse && last?.vouched && last.signature === signature && monoNow() - last.mono < FULL_READ_MS) {
      const timestamp = new Date().toISOString();
      return this.nics.facts(last.ifaces.map((i) => ({ ...i, timestamp })));
    }
    this.factsReads++;
    const mono = monoNow();
    const { ifaces, multipath } = await readFacts(this.wifi);
    // The signature sees a link's addresses only while it is up (getifaddrs), and a route's first nexthop.
    const vouched = !multipath && !ifaces.some((i) => i.status === 'down' && i.ipv4_addresses.length > 0);
    this.lastRead = { signature, ifaces, mono, vouched };
    return this.nics.facts(ifaces);
  }

  async start(): Promise<void> {
    const orphans = killOrphanDhcpClients();
    if (orphans > 0) this.log.warn({ clients: orphans }, 'DHCP clients of a previous netmon ended (the agent starts them again)');
    // Paths of a previous netmon: taken over, and those whose runtime is gone removed (what the kernel left).
    if (fs.existsSync(this.proxyArpStateFile)) await (await this.paths()).proxyArp.reap();
    this.last = new Map((await this.facts()).map((i) => [i.interface, i]));
    await this.serial.start();
    fs.rmSync(this.socketPath, { force: true }); // stale after a crash
    this.server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
    fs.chmodSync(this.socketPath, 0o660);
    this.monitor = new LinkMonitor((iface) => this.changed(iface), Math.min(LOOK_EVERY_MS, this.debounceMs));
    this.monitor.start();
    this.rediscover = setInterval(() => void this.rediscoverAll(), REDISCOVER_MS);
    this.log.info({ socket: this.socketPath, interfaces: [...this.last.keys()], serial_devices: this.serial.list.map((d) => d.path) }, 'netmon started');
  }

  async stop(): Promise<void> {
    (await this.dhcp)?.stopAll();
    (await this.wifiPaths)?.wifiDhcp.stopAll(); // paths stay: the PLCs keep their addresses while netmon restarts
    this.monitor?.stop();
    this.serial.stop();
    if (this.rediscover) clearInterval(this.rediscover);
    if (this.nicCheck) clearInterval(this.nicCheck);
    for (const t of this.timers.values()) clearTimeout(t);
    for (const c of this.clients) c.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private accept(sock: net.Socket): void {
    this.clients.add(sock);
    sock.on('close', () => this.clients.delete(sock));
    sock.on('error', () => this.clients.delete(sock));
    const timestamp = new Date().toISOString();
    // Netmon's version rides on the first event: the agent learns it without a Docker call (get_orchestrator_version).
    this.send(sock, { type: 'network_discovery', interfaces: [...this.last.values()], timestamp, version: VERSION });
    this.send(sock, { type: 'device_discovery', devices: this.serial.list, timestamp });
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
          return { id, success: true, uptime: Math.floor((monoNow() - this.startedAt) / 1000), clients: this.clients.size, facts_reads: this.factsReads, interfaces: [...this.last.values()] };
        case 'set_mac':
          return { id, success: true, ifname: await setMacOnParent(c.pid, c.parent, c.mac), mac: c.mac };
        case 'get_macs':
          return { id, success: true, interfaces: await namespaceIfaces(c.pid) };
        case 'dhcp_start':
          return { id, success: true, ...(await (await this.dhcpClients()).start(c.container_name, c.vnic_name, c.pid, c.mac, c.request_ip)) };
        case 'dhcp_stop':
          return { id, success: true, stopped: this.dhcp ? (await this.dhcp).stop(c.container_name, c.vnic_name) : false };
        case 'dhcp_status':
          return { id, success: true, clients: this.dhcp ? (await this.dhcp).list() : [] };
        case 'serial_devices':
          await this.serial.rescan(); // changes found now go out as device_change before this answer
          return { id, success: true, devices: this.serial.list };
        case 'serial_node':
          if (c.grant) grantDevice(c.pid, c.major, c.minor);
          await makeDeviceNode(c.pid, c.path, c.major, c.minor);
          this.log.info({ pid: c.pid, path: c.path, major: c.major, minor: c.minor, granted: c.grant }, 'serial device node made in a runtime');
          return { id, success: true, path: c.path, major: c.major, minor: c.minor };
        case 'serial_node_remove':
          return { id, success: true, removed: removeDeviceNode(c.pid, c.path) };
        case 'nic_move': {
          const r = await this.nics.move(c.interface, c.pid, c.container_name);
          this.armNicCheck();
          this.changed(c.interface); // its facts now carry dedicated_to
          return { id, success: true, ...r };
        }
        case 'nic_return': {
          const r = await this.nics.return(c.interface, c.pid);
          this.changed(c.interface);
          return { id, success: true, ...r };
        }
        case 'route_get':
          return { id, success: true, ...(await routeGet(c.address)) };
        case 'statfs': {
          // netmon shares the host's pid namespace: /proc/1/root is the host's root, whatever its own mounts.
          // Where pid 1 cannot be read (a sandbox's init), netmon is on the host's file systems itself.
          let s: fs.StatsFs;
          try {
            s = fs.statfsSync(`/proc/1/root${c.path}`);
          } catch (e) {
            if (!['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
            s = fs.statfsSync(c.path);
          }
          return { id, success: true, total_bytes: s.blocks * s.bsize, avail_bytes: s.bavail * s.bsize };
        }
        case 'engine_ulimits':
          // netmon shares the host's pid namespace: its /proc shows dockerd, containerd and the shims.
          return { id, success: true, ulimits: predictEngineUlimits() };
        case 'proxy_arp_setup': {
          const { proxyArp } = await this.paths();
          const built = await proxyArp.setup({ container_name: c.container_name, vnic_name: c.vnic_name, pid: c.pid, parent: c.parent, ip: c.ip, prefix: c.prefix, gateway: c.gateway });
          return { id, success: true, path: built, host_changes: proxyArp.hostChanges() };
        }
        case 'wifi_dhcp_start': {
          const { proxyArp, wifiDhcp } = await this.paths();
          return { id, success: true, ...(await wifiDhcp.start({ container_name: c.container_name, vnic_name: c.vnic_name, pid: c.pid, parent: c.parent, ...(c.request_ip ? { request_ip: c.request_ip } : {}) })), host_changes: proxyArp.hostChanges() };
        }
        case 'proxy_arp_teardown': {
          const { proxyArp, wifiDhcp } = await this.paths();
          const before = proxyArp.list().length;
          const clients = await wifiDhcp.stop(c.container_name, c.vnic_name); // tears its paths down too
          await proxyArp.teardown(c.container_name, c.vnic_name); // static paths
          return { id, success: true, clients, paths: before - proxyArp.list().length, host_changes: proxyArp.hostChanges() };
        }
        case 'proxy_arp_cleanup': {
          // Uninstall: every Wi-Fi client releases its lease, every path goes, the sysctls come back.
          const { proxyArp, wifiDhcp } = await this.paths();
          for (const cl of wifiDhcp.list()) await wifiDhcp.stop(cl.container_name, cl.vnic_name);
          return { id, success: true, paths: await proxyArp.teardownAll(), host_changes: proxyArp.hostChanges() };
        }
        case 'proxy_arp_status': {
          const { proxyArp, wifiDhcp } = await this.paths();
          return { id, success: true, paths: proxyArp.list(), clients: wifiDhcp.list(), host_changes: proxyArp.hostChanges() };
        }
      }
    } catch (e) {
      return { id, success: false, error: (e as Error).message };
    }
  }

  /** A kernel change on `iface` (null: unknown, look at all): debounced per interface. LinkMonitor never
   * names Docker's bridges and veths (never in the facts: a read would find nothing to report). */
  private changed(iface: string | null): void {
    const key = iface ?? '*';
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.request(iface === null ? null : [iface], false);
      }, this.debounceMs),
    );
  }

  /** Checks each dedicated NIC's runtime every NIC_CHECK_MS while there is one. */
  private armNicCheck(): void {
    if (this.nicCheck || this.nics.size === 0) return;
    this.nicCheck = setInterval(() => {
      for (const name of this.nics.gone()) this.changed(name);
      if (this.nics.size === 0) {
        clearInterval(this.nicCheck!);
        this.nicCheck = null;
      }
    }, NIC_CHECK_MS);
  }

  /** `reuse`: the last read's facts may serve if nothing changed (only the re-discovery asks so). */
  private request(names: string[] | null, always: boolean, reuse = false): void {
    if (names === null) this.dueAll = true;
    else for (const n of names) this.due.add(n);
    if (always) this.dueAlways = true;
    if (!reuse) this.dueFresh = true;
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.dueAll || this.due.size > 0) {
        const names = this.dueAll ? null : [...this.due];
        const always = this.dueAlways;
        const reuse = !this.dueFresh;
        this.due.clear();
        this.dueAll = this.dueAlways = this.dueFresh = false;
        await this.report(names, always, reuse);
      }
    } finally {
      this.draining = false;
    }
  }

  private async rediscoverAll(): Promise<void> {
    (await this.dhcp)?.reap();
    // What is left of paths whose runtime is gone (a runtime deleted while the agent could not say so).
    await (await this.wifiPaths)?.proxyArp.reap().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'proxy-ARP reap failed'));
    await this.serial.rescan(); // a safety net for a missed inotify event; sends only changes
    this.request(null, true, true);
  }

  private serialChanged(changes: SerialChange[]): void {
    for (const { action, device } of changes) {
      this.log.info({ action, path: device.path, by_id: device.by_id, major: device.major, minor: device.minor }, 'serial device change');
      this.broadcast({ type: 'device_change', action, device, timestamp: new Date().toISOString() });
    }
  }

  /** Reads the facts and sends network_change for the interfaces that changed (all of them when `always`). */
  private async report(names: string[] | null, always: boolean, reuse: boolean): Promise<void> {
    let now: Iface[];
    try {
      now = await this.facts(reuse);
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
