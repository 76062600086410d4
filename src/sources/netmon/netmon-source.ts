// The agent's side of netmon: connects (and reconnects forever, backoff capped at 5 s), turns events into
// host facts in the store (a write and a wake-up only when a fact changed), marks the facts stale when
// the sidecar is gone too long, and sends commands (`{command, id}` → one answer echoing `id`).
import net from 'node:net';
import type { Logger } from '../../log.js';
import { ifaceOfChange, netmonEventSchema, type DhcpUpdateEvent, type Iface, type SerialDevice } from '../../netmon/protocol.js';
import type { HostInterface } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { LineBuffer } from '../../line-buffer.js';

const STALE_AFTER_MS = 30_000;
const COMMAND_TIMEOUT_MS = 15_000;

/** A fact in one canonical shape (fixed key order), so that equal facts compare equal. */
const toFact = (i: Iface): HostInterface => ({
  interface: i.interface,
  index: i.index,
  operstate: i.operstate,
  type: i.type,
  mac_address: i.mac_address,
  ipv4_addresses: i.ipv4_addresses.map((a) => ({ address: a.address, prefixlen: a.prefixlen, subnet: a.subnet, network_address: a.network_address })),
  gateway: i.gateway,
  ...(i.status ? { status: i.status } : {}),
  ...(i.default_route ? { default_route: true } : {}),
  ...(i.dedicated_to !== undefined ? { dedicated_to: i.dedicated_to } : {}),
});
const byName = (a: HostInterface, b: HostInterface) => (a.interface < b.interface ? -1 : a.interface > b.interface ? 1 : 0);
const same = (a: readonly HostInterface[], b: readonly HostInterface[]) => JSON.stringify(a) === JSON.stringify(b);

export class NetmonSource {
  private sock: net.Socket | null = null;
  private retryMs = 250;
  private timer: NodeJS.Timeout | null = null;
  private staleTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private nextId = 1;
  private readonly pending = new Map<number, (answer: Record<string, unknown>) => void>();
  /** Set when the first discovery since this agent started has arrived (boot sequencing). */
  discoveredAt: number | null = null;
  eventsSeen = 0;
  /** For `doctor`: since when the socket is connected, and netmon's last event. */
  private connectedAt: number | null = null;
  private lastEventAt: number | null = null;
  commandsSent = 0;
  /** When the last network_discovery arrived (performance.now(), immune to clock steps): the netmon swap's
   * gate wants one from the new netmon. */
  lastDiscoveryMono: number | null = null;
  private connectedMono: number | null = null;
  /** The connected netmon's version, from its discovery (null: not yet, or a netmon too old to say). */
  version: string | null = null;
  /** Called on every (re)connect: a new netmon has none of the old one's DHCP clients. */
  onConnect: (() => void) | null = null;

  constructor(
    private readonly socketPath: string,
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Since when the socket is connected (performance.now(); null: not connected). */
  get connectedSinceMono(): number | null {
    return this.connected ? this.connectedMono : null;
  }

  get connected(): boolean {
    return this.sock !== null && !this.sock.destroyed;
  }

  status(): { socket: string; connected: boolean; connectedSince: string | null; lastReportAt: string | null; eventsSeen: number } {
    const iso = (t: number | null) => (t ? new Date(t).toISOString() : null);
    return { socket: this.socketPath, connected: this.connected, connectedSince: this.connected ? iso(this.connectedAt) : null, lastReportAt: iso(this.lastEventAt), eventsSeen: this.eventsSeen };
  }

  start(): void {
    this.armStale();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.sock?.destroy();
  }

  /** Sends a command; resolves with netmon's answer, or `{success:false, error}`. */
  command(cmd: Record<string, unknown>, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const sock = this.sock;
    if (!sock || sock.destroyed) return Promise.resolve({ success: false, error: 'Not connected to network monitor' });
    const id = this.nextId++;
    this.commandsSent++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ success: false, error: 'Timeout waiting for netmon response' });
      }, timeoutMs);
      this.pending.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      sock.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const sock = net.connect(this.socketPath);
    const lines = new LineBuffer();
    sock.on('connect', () => {
      this.retryMs = 250;
      this.sock = sock;
      this.connectedAt = Date.now();
      this.connectedMono = performance.now();
      this.log.info({ socket: this.socketPath }, 'connected to netmon');
      this.onConnect?.();
    });
    sock.on('data', (d) => {
      for (const line of lines.push(d)) this.line(line);
    });
    const closed = () => {
      if (this.sock === sock) this.sock = null;
      for (const [id, resolve] of this.pending) {
        this.pending.delete(id);
        resolve({ success: false, error: 'netmon connection closed' });
      }
      if (this.stopped || this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.connect();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    };
    sock.on('error', () => undefined);
    sock.on('close', closed);
  }

  private line(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof json !== 'object' || json === null) return;
    if (!('type' in json)) {
      const id = (json as { id?: unknown }).id;
      if (typeof id === 'number') this.pending.get(id)?.(json as Record<string, unknown>);
      return;
    }
    const ev = netmonEventSchema.safeParse(json);
    if (!ev.success) {
      this.log.warn({ type: (json).type }, 'netmon event not understood; ignored');
      return;
    }
    this.eventsSeen++;
    this.lastEventAt = Date.now();
    this.armStale();
    const e = ev.data;
    if (e.type === 'dhcp_update') {
      void this.writeLease(e);
      return;
    }
    if (e.type === 'device_discovery') {
      void this.writeDevices(() => e.devices);
      return;
    }
    if (e.type === 'device_change') {
      this.log.info({ path: e.device.path, by_id: e.device.by_id, major: e.device.major, minor: e.device.minor }, `serial device ${e.action === 'add' ? 'plugged in' : 'unplugged'}`);
      void this.writeDevices((current) => [...current.filter((d) => d.path !== e.device.path), ...(e.action === 'add' ? [e.device] : [])]);
      return;
    }
    if (e.type === 'network_discovery') {
      this.discoveredAt ??= Date.now();
      this.lastDiscoveryMono = performance.now();
      this.version = e.version ?? null;
      const all = e.interfaces.map(toFact).sort(byName);
      void this.write(() => all, true);
    } else {
      const fact = toFact(ifaceOfChange(e));
      void this.write((current) => {
        const others = current.filter((i) => i.interface !== fact.interface);
        return fact.status === 'removed' ? others : [...others, fact].sort(byName);
      }, false);
    }
  }

  /**
   * Writes facts only when they changed (a re-discovery of the same facts costs nothing downstream).
   * `next` runs inside the store's serialized update, on the facts as every earlier queued event left
   * them: a snapshot taken when the line arrived would miss writes still queued (two changes in one
   * read would keep only the last).
   */
  private async write(next: (current: readonly HostInterface[]) => HostInterface[], discovery: boolean): Promise<void> {
    try {
      const written = await this.store.update('host', (s) => {
        const interfaces = next(s.host.interfaces);
        if (same(s.host.interfaces, interfaces) && !s.host.stale && s.host.observedAt !== null) return null;
        s.host = { ...s.host, interfaces, observedAt: new Date().toISOString(), stale: false };
        return interfaces;
      });
      if (discovery && written) this.log.info({ interfaces: written.map((i) => i.interface) }, 'host facts from netmon');
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'host facts not written');
    }
  }

  /** Serial devices are host facts (CONTRACT §9.4): written when they changed; a write wakes the reconcilers. */
  private async writeDevices(next: (current: readonly SerialDevice[]) => SerialDevice[]): Promise<void> {
    try {
      await this.store.update('host', (s) => {
        const devices = next(s.host.serialDevices).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        if (JSON.stringify(devices) === JSON.stringify(s.host.serialDevices)) return;
        s.host.serialDevices = devices;
      });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'serial devices not written');
    }
  }

  /** A lease is observed status of its runtime (never its desired spec); a write wakes the reconcilers. */
  private async writeLease(e: DhcpUpdateEvent): Promise<void> {
    const bound = e.event === 'bound' || e.event === 'renew';
    this.log.info({ device: e.container_name, vnic: e.vnic_name, event: e.event, ip: e.ip, message: e.message }, `DHCP ${e.event}`);
    try {
      await this.store.update('host', (s) => {
        if (e.host_changes && JSON.stringify(e.host_changes) !== JSON.stringify(s.host.hostChanges)) s.host.hostChanges = e.host_changes;
        const st = s.runtimes[e.container_name]?.status;
        if (!st || !s.runtimes[e.container_name]!.spec.vnics.some((v) => v.name === e.vnic_name)) return;
        const prev = st.dhcp[e.vnic_name];
        st.dhcp[e.vnic_name] = {
          event: e.event,
          // A failure or a loss keeps the last address known: the next client asks for it again.
          ip: bound ? e.ip : (prev?.ip ?? null),
          prefix: bound ? e.prefix : (prev?.prefix ?? null),
          gateway: bound ? e.gateway : (prev?.gateway ?? null),
          dns: bound ? e.dns : (prev?.dns ?? []),
          leaseTime: bound ? e.lease_time : null,
          message: e.message ?? null,
          at: e.timestamp,
        };
      });
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'DHCP lease not written');
    }
  }

  private armStale(): void {
    if (this.staleTimer) clearTimeout(this.staleTimer);
    // netmon re-discovers every 30 s: silence beyond that means it is gone.
    this.staleTimer = setTimeout(() => {
      if (this.store.state.host.stale) return;
      this.log.warn('no word from netmon: host facts marked stale');
      void this.store.update('host', (s) => void (s.host.stale = true)).catch(() => undefined);
    }, STALE_AFTER_MS + 5000);
  }
}
