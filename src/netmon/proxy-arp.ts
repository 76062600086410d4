// Proxy-ARP paths for vNICs whose parent is Wi-Fi (CONTRACT §9.2, upstream §13.16): an access point drops
// frames from MACs it did not associate, so a runtime cannot have its own MAC on the LAN (no MACVLAN).
// Instead a veth pair joins the runtime's namespace to the host, the host routes the runtime's address
// (/32 through the veth) and answers ARP for it on the Wi-Fi parent with the parent's own MAC (a
// neighbour proxy entry), and forwards between the two. Everything the path changes on the host is owned
// here: the earlier values of the sysctls it turns on are kept (in a small JSON file, so that a netmon
// restart does not lose them) and written back when the last path that needed them goes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { LineBuffer } from '../line-buffer.js';
import type { NetmonLog } from './daemon.js';
import { DHCP_SCRIPT_DIR_PREFIX } from './dhcp-orphans.js';
import { dhcpUpdate, endClient, handleScriptLine, removeScriptFile, retryDelayMs, scriptFile, writeLeaseDns, type DhcpEvent, type DhcpUpdate, type Lease } from './dhcp.js';
import { namespaceIfaces } from './namespace-mac.js';
import { wifiAddressProblem, type WifiParentFacts } from '../domain/wifi-address.js';

const run = promisify(execFile);

export interface ProxyArpParams {
  container_name: string;
  /** The vNIC's name: the interface name inside the runtime (e.g. eth1). */
  vnic_name: string;
  /** A process in the runtime's network namespace (the container's init). */
  pid: number;
  /** The host's Wi-Fi interface. */
  parent: string;
  ip: string;
  /** The LAN's prefix length: the runtime sees the same address and subnet as on a MACVLAN. */
  prefix: number;
  gateway: string | null;
}

/** One built path and everything it made (all of it removed again by teardown). */
export interface ProxyArpPath extends ProxyArpParams {
  /** Host end of the veth pair (`veth` + 8 hex: netmon's facts ignore it). */
  veth: string;
  /** The veth's end inside the runtime (innerName(vnic_name): never one of Docker's ethN). */
  ifname: string;
  /** Host route to the runtime, `<ip>/32 dev <veth>`. */
  route: string;
  /** `ip neigh add proxy <ip> dev <parent>`. */
  neigh_proxy: { address: string; dev: string };
  /** iptables FORWARD rules this path inserted (arguments after the chain name); empty when not needed. */
  forward_rules: string[][];
  /** A default route via the gateway was added in the runtime's namespace (it had none). */
  default_route: boolean;
  /** /proc/sys paths this path needs set to 1 (ip_forward and the parent's proxy_arp). */
  sysctls: string[];
}

/** What this module owns on the host, as plain JSON (for the agent's state file and netmon's own file). */
export type HostChange =
  | { kind: 'sysctl'; name: string; path: string; earlier: string; value: string; needed_by: string[] }
  | ({ kind: 'proxy_arp_path' } & ProxyArpPath);

interface OwnedSysctl {
  path: string;
  earlier: string;
  value: string;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const SYSCTL_PATH = /^\/proc\/sys\/net\/ipv4\/(ip_forward|conf\/[A-Za-z0-9_.-]{1,15}\/proxy_arp)$/;
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const proxyArpSysctl = (ifname: string) => `/proc/sys/net/ipv4/conf/${ifname}/proxy_arp`;
/** sysctl(8)'s spelling: dots separate levels, so a dot inside an interface name becomes a slash. */
const sysctlName = (p: string) => p.slice('/proc/sys/'.length).split('/').map((s) => s.replace(/\./g, '/')).join('.');

// node:crypto on first use: loading it at import costs netmon ~1 MiB for two names (issue #12).
const sha256hex = (s: string) => process.getBuiltinModule('node:crypto').createHash('sha256').update(s).digest('hex');

/** `veth` + 8 hex of a hash of container and vNIC: deterministic, 12 characters (IFNAMSIZ allows 15). */
export function vethName(containerName: string, vnicName: string): string {
  return `veth${sha256hex(`${containerName}/${vnicName}`).slice(0, 8)}`;
}

const keyOf = (containerName: string, vnicName: string) => `${containerName}/${vnicName}`;
const sameParams = (a: ProxyArpParams, b: ProxyArpParams) =>
  a.pid === b.pid && a.parent === b.parent && a.ip === b.ip && a.prefix === b.prefix && a.gateway === b.gateway;

/**
 * The interface inside the runtime for a vNIC: `wl-<vnic>` when that is an interface name, else `wl-` + 8 hex
 * of a hash. Never the vNIC's own name: Docker names the runtime's other interfaces eth0, eth1, …, and a
 * cloud names its vNICs the same way (`wifi_wlan0_eth0`).
 */
export function innerName(vnicName: string): string {
  const n = `wl-${vnicName}`;
  return IFNAME.test(n) ? n : `wl-${sha256hex(vnicName).slice(0, 8)}`;
}

/** Refuses what could make `ip` act on something else than meant (names are passed as argv, never a shell). */
export function validateParams(p: ProxyArpParams): void {
  if (typeof p.container_name !== 'string' || p.container_name.length === 0 || p.container_name.length > 255) throw new Error('container_name: expected 1–255 characters');
  if (typeof p.vnic_name !== 'string' || p.vnic_name.length === 0 || p.vnic_name.length > 64 || [...p.vnic_name].some((ch) => ch === '/' || ch.charCodeAt(0) < 32)) {
    throw new Error(`vnic_name: expected 1–64 characters without "/" or control characters, got "${String(p.vnic_name).slice(0, 32)}"`);
  }
  if (!IFNAME.test(p.parent)) throw new Error(`parent: expected an interface name of at most 15 characters [A-Za-z0-9_.-], got "${String(p.parent).slice(0, 32)}"`);
  if (!Number.isInteger(p.pid) || p.pid < 2) throw new Error(`pid: expected the pid of a process in the runtime, got ${String(p.pid)}`);
  if (!IPV4.test(p.ip)) throw new Error(`ip: expected an IPv4 address, got "${String(p.ip).slice(0, 32)}"`);
  if (!Number.isInteger(p.prefix) || p.prefix < 1 || p.prefix > 32) throw new Error(`prefix: expected 1–32, got ${String(p.prefix)}`);
  if (p.gateway !== null && !IPV4.test(p.gateway)) throw new Error(`gateway: expected an IPv4 address or null, got "${String(p.gateway).slice(0, 32)}"`);
}

const ip = (args: string[]) => run('ip', args, { timeout: 5000 });
const nsIp = (pid: number, args: string[]) => run('nsenter', ['-t', String(pid), '-n', 'ip', ...args], { timeout: 5000 });
const ipJson = async <T>(args: string[], pid?: number): Promise<T[]> => {
  const { stdout } = pid === undefined ? await ip(['-j', ...args]) : await nsIp(pid, ['-j', ...args]);
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as T[]);
};
const errText = (e: unknown) => `${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`.slice(0, 300);

/** The parent's IPv4 addresses and default gateway now (what wifi-address.ts judges an address against). */
async function parentFacts(parent: string): Promise<WifiParentFacts> {
  const [addrs, routes] = await Promise.all([
    ipJson<{ addr_info?: { family: string; local: string; prefixlen: number }[] }>(['-4', 'addr', 'show', 'dev', parent]),
    ipJson<{ gateway?: string }>(['-4', 'route', 'show', 'default', 'dev', parent]),
  ]);
  const ipv4_addresses = addrs.flatMap((a) => (a.addr_info ?? []).filter((i) => i.family === 'inet').map((i) => ({ address: i.local, prefixlen: i.prefixlen })));
  return { ipv4_addresses, gateway: routes.find((r) => r.gateway)?.gateway ?? null };
}

interface LinkJson {
  ifindex: number;
  ifname: string;
  link_index?: number;
  flags?: string[];
  mtu?: number;
}

async function hostLink(name: string): Promise<LinkJson | null> {
  try {
    return (await ipJson<LinkJson>(['link', 'show', 'dev', name]))[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * iptables is optional: used only when the FORWARD chain would drop the path's traffic. `null` when the
 * chain could not be read (the xtables lock busy, a timeout): not knowing is no reason to change the rules.
 */
async function iptablesNeeded(): Promise<boolean | null> {
  let out: string;
  try {
    out = (await run('iptables', ['-w', '5', '-S', 'FORWARD'], { timeout: 10_000 })).stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // no iptables binary: nothing to open
    return null;
  }
  const lines = out.split('\n');
  const policyAccepts = lines.some((l) => l.trim() === '-P FORWARD ACCEPT');
  const anyDrop = lines.some((l) => /^-A FORWARD .*-j (DROP|REJECT)\b/.test(l));
  return !policyAccepts || anyDrop;
}

const readSysctl = (p: string) => fs.readFileSync(p, 'utf8').trim();

export interface ProxyArpOptions {
  log: NetmonLog;
  /** Where the ownership is kept across netmon restarts (e.g. `$ORCH_DATA_DIR/netmon-proxy-arp.json`); null: memory only. */
  stateFile?: string | null;
}

export class ProxyArpPaths {
  private readonly paths = new Map<string, ProxyArpPath>();
  private readonly sysctls = new Map<string, OwnedSysctl>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: NetmonLog;
  private readonly stateFile: string | null;

  constructor(opts: ProxyArpOptions) {
    this.log = opts.log;
    this.stateFile = opts.stateFile ?? null;
  }

  /** One host change at a time: two paths share the sysctls and each one's bookkeeping. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Builds (or keeps) the path of one vNIC. The same values again change nothing (a piece that went
   * missing is put back); other values (address, parent, a new pid after a container restart) tear the
   * old path down first. Returns the path as built.
   */
  async setup(p: ProxyArpParams): Promise<ProxyArpPath> {
    validateParams(p); // async: a bad parameter is a rejection, never a synchronous throw
    return this.serial(() => this.setupLocked({ container_name: p.container_name, vnic_name: p.vnic_name, pid: p.pid, parent: p.parent, ip: p.ip, prefix: p.prefix, gateway: p.gateway }));
  }

  /** Removes the path of one vNIC, or of every vNIC of the runtime; returns how many went. */
  teardown(containerName: string, vnicName?: string): Promise<number> {
    return this.serial(async () => {
      const gone = [...this.paths.values()].filter((x) => x.container_name === containerName && (vnicName === undefined || x.vnic_name === vnicName));
      for (const x of gone) await this.removePath(x);
      this.settleSysctls();
      this.save();
      return gone.length;
    });
  }

  /** Removes every path (uninstall); the sysctls go back to their earlier values. */
  teardownAll(): Promise<number> {
    return this.serial(async () => {
      const all = [...this.paths.values()];
      for (const x of all) await this.removePath(x);
      this.settleSysctls();
      this.save();
      return all.length;
    });
  }

  /** Paths whose runtime process is gone: what the kernel did not remove with the namespace is removed. */
  reap(): Promise<number> {
    return this.serial(async () => {
      const dead = [...this.paths.values()].filter((x) => !fs.existsSync(`/proc/${x.pid}/ns/net`));
      for (const x of dead) await this.removePath(x);
      if (dead.length > 0) {
        this.settleSysctls();
        this.save();
      }
      return dead.length;
    });
  }

  list(): ProxyArpPath[] {
    return [...this.paths.values()].map((x) => structuredClone(x));
  }

  /** Everything owned on the host now: sysctls with their earlier values, and each path with what it made. */
  hostChanges(): HostChange[] {
    const needers = (p: string) => [...this.paths.values()].filter((x) => x.sysctls.includes(p)).map((x) => keyOf(x.container_name, x.vnic_name));
    return [
      ...[...this.sysctls.values()].map((s): HostChange => ({ kind: 'sysctl', name: sysctlName(s.path), path: s.path, earlier: s.earlier, value: s.value, needed_by: needers(s.path) })),
      ...[...this.paths.values()].map((x): HostChange => ({ kind: 'proxy_arp_path', ...structuredClone(x) })),
    ];
  }

  /**
   * Takes over ownership recorded earlier (netmon's own file at start, or the list the agent kept in its
   * state file): what is already owned here wins; malformed entries are skipped and counted.
   */
  adopt(changes: unknown): { sysctls: number; paths: number; skipped: number } {
    const r = { sysctls: 0, paths: 0, skipped: 0 };
    if (!Array.isArray(changes)) return r;
    for (const c of changes as unknown[]) {
      const s = asSysctl(c);
      if (s) {
        if (!this.sysctls.has(s.path)) {
          this.sysctls.set(s.path, s);
          r.sysctls++;
        }
        continue;
      }
      const x = asPath(c);
      if (x) {
        const k = keyOf(x.container_name, x.vnic_name);
        if (!this.paths.has(k)) {
          this.paths.set(k, x);
          r.paths++;
        }
        continue;
      }
      r.skipped++;
    }
    if (r.sysctls + r.paths > 0) this.save();
    return r;
  }

  /** Reads netmon's own file (see stateFile). A missing file is a first start; an unreadable one is logged. */
  load(): { sysctls: number; paths: number; skipped: number } {
    if (!this.stateFile) return { sysctls: 0, paths: 0, skipped: 0 };
    let text: string;
    try {
      text = fs.readFileSync(this.stateFile, 'utf8');
    } catch {
      return { sysctls: 0, paths: 0, skipped: 0 };
    }
    try {
      const doc = JSON.parse(text) as { changes?: unknown };
      const r = this.adopt(doc.changes);
      if (r.sysctls + r.paths + r.skipped > 0) this.log.info({ file: this.stateFile, ...r }, 'proxy-ARP ownership taken over from the previous netmon');
      return r;
    } catch (e) {
      this.log.warn({ file: this.stateFile, err: (e as Error).message }, 'proxy-ARP ownership file unreadable; earlier sysctl values unknown');
      return { sysctls: 0, paths: 0, skipped: 0 };
    }
  }

  private save(): void {
    if (!this.stateFile) return;
    try {
      fs.mkdirSync(path.dirname(this.stateFile), { recursive: true });
      const tmp = `${this.stateFile}.tmp`;
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeFileSync(fd, `${JSON.stringify({ version: 1, changes: this.hostChanges() }, null, 2)}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.stateFile);
    } catch (e) {
      // A full disk must not stop the path: the agent keeps the same list in its state file (hostChanges()).
      this.log.warn({ file: this.stateFile, err: (e as Error).message }, 'proxy-ARP ownership not saved');
    }
  }

  private async setupLocked(p: ProxyArpParams): Promise<ProxyArpPath> {
    const key = keyOf(p.container_name, p.vnic_name);
    if (!fs.existsSync(`/proc/${p.pid}/ns/net`)) throw new Error(`no process ${p.pid}: the runtime is not running`);
    if (!fs.existsSync(`/sys/class/net/${p.parent}`)) throw new Error(`no interface ${p.parent} on the host`);
    // A lease (a rogue server's too) or a static address becomes a host route: only a plain host of the parent's subnet.
    const refused = wifiAddressProblem(p.ip, await parentFacts(p.parent), p.gateway);
    if (refused !== null) throw new Error(`ip: ${refused} of ${p.parent}: not made a proxy-ARP path`);
    const clash = [...this.paths.values()].find((x) => x.ip === p.ip && keyOf(x.container_name, x.vnic_name) !== key);
    if (clash) throw new Error(`${p.ip} is already the address of ${clash.container_name}/${clash.vnic_name} through proxy ARP`);
    const veth = vethName(p.container_name, p.vnic_name);
    const old = this.paths.get(key);
    if (old && !sameParams(old, p)) {
      this.log.info({ device: p.container_name, vnic: p.vnic_name, from: { pid: old.pid, parent: old.parent, ip: old.ip, prefix: old.prefix, gateway: old.gateway }, to: { pid: p.pid, parent: p.parent, ip: p.ip, prefix: p.prefix, gateway: p.gateway } }, 'proxy-ARP path changes: the old one goes first');
      await this.removePath(old);
    }
    const rec: ProxyArpPath = this.paths.get(key) ?? {
      ...p,
      veth,
      ifname: innerName(p.vnic_name),
      route: `${p.ip}/32`,
      neigh_proxy: { address: p.ip, dev: p.parent },
      forward_rules: [],
      default_route: false,
      sysctls: [IP_FORWARD, proxyArpSysctl(p.parent)],
    };
    this.paths.set(key, rec);
    const changed: string[] = [];
    try {
      await this.ensureVeth(rec, changed);
      await this.ensureInside(rec, changed);
      this.settleSysctls(changed, true);
      await this.ensureHost(rec, changed);
    } catch (e) {
      this.log.warn({ device: p.container_name, vnic: p.vnic_name, err: errText(e) }, 'proxy-ARP path could not be built; what was made is removed');
      await this.removePath(rec);
      this.settleSysctls();
      this.save();
      throw new Error(`proxy-ARP path for ${key} on ${p.parent}: ${errText(e)}`, { cause: e });
    }
    if (changed.length > 0) {
      this.save();
      this.log.info({ device: p.container_name, vnic: p.vnic_name, parent: p.parent, ip: `${p.ip}/${p.prefix}`, veth, changed }, 'proxy-ARP path ready');
    }
    return structuredClone(rec);
  }

  /** The veth pair: host end `rec.veth`, the other end created directly in the runtime's namespace. */
  private async ensureVeth(rec: ProxyArpPath, changed: string[]): Promise<void> {
    const host = await hostLink(rec.veth);
    if (host) {
      // Ours and still joined to this runtime's vNIC? (A leftover of an older namespace is replaced.)
      const inside = (await ipJson<LinkJson>(['link', 'show'], rec.pid).catch(() => [])).find((l) => l.ifname.split('@')[0] === rec.ifname);
      if (inside && inside.ifindex === host.link_index && inside.link_index === host.ifindex) return;
      await ip(['link', 'del', rec.veth]).catch(() => undefined);
      changed.push('stale veth removed');
    }
    const names = (await namespaceIfaces(rec.pid)).map((i) => i.ifname);
    if (names.includes(rec.ifname)) throw new Error(`the runtime already has an interface named ${rec.ifname}`);
    const mtu = Number(readSysctlSafe(`/sys/class/net/${rec.parent}/mtu`) ?? '1500') || 1500;
    await ip(['link', 'add', rec.veth, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', rec.ifname, 'mtu', String(mtu), 'netns', String(rec.pid)]);
    rec.default_route = false; // a new namespace end: whatever we added before went with the old one
    changed.push('veth');
  }

  /** Inside the runtime: the address with the LAN's prefix, link up, a default route if it has none. */
  private async ensureInside(rec: ProxyArpPath, changed: string[]): Promise<void> {
    const [link] = await ipJson<LinkJson & { addr_info?: { family: string; local: string; prefixlen: number }[] }>(['addr', 'show', 'dev', rec.ifname], rec.pid);
    const v4 = (link?.addr_info ?? []).filter((a) => a.family === 'inet');
    if (!(v4.length === 1 && v4[0]!.local === rec.ip && v4[0]!.prefixlen === rec.prefix)) {
      if (v4.length > 0) await nsIp(rec.pid, ['-4', 'addr', 'flush', 'dev', rec.ifname]);
      await nsIp(rec.pid, ['addr', 'add', `${rec.ip}/${rec.prefix}`, 'dev', rec.ifname]);
      changed.push('address');
    }
    if (!link?.flags?.includes('UP')) {
      await nsIp(rec.pid, ['link', 'set', 'dev', rec.ifname, 'up']);
      changed.push('link up');
    }
    if (rec.gateway) {
      const defaults = await ipJson<{ dst: string; gateway?: string; dev?: string }>(['-4', 'route', 'show', 'default'], rec.pid);
      if (defaults.length === 0) {
        // onlink: the gateway is reached through the veth (the host answers its ARP), whatever the prefix.
        await nsIp(rec.pid, ['route', 'add', 'default', 'via', rec.gateway, 'dev', rec.ifname, 'onlink']);
        rec.default_route = true;
        changed.push('default route');
      } else if (!defaults.some((d) => d.dev === rec.ifname)) {
        rec.default_route = false; // another network of the runtime routes by default: left alone
      }
    }
  }

  /** On the host: veth up with proxy_arp, the /32 route, the neighbour proxy on the parent, FORWARD rules. */
  private async ensureHost(rec: ProxyArpPath, changed: string[]): Promise<void> {
    const host = await hostLink(rec.veth);
    if (!host?.flags?.includes('UP')) {
      await ip(['link', 'set', 'dev', rec.veth, 'up']);
      changed.push('veth up');
    }
    // The veth is ours and goes with the path: its proxy_arp has no earlier value worth keeping.
    if (readSysctlSafe(proxyArpSysctl(rec.veth)) !== '1') {
      fs.writeFileSync(proxyArpSysctl(rec.veth), '1');
      changed.push('veth proxy_arp');
    }
    const routes = await ipJson<{ dst: string; dev?: string; gateway?: string }>(['-4', 'route', 'show', 'exact', rec.route]);
    if (!(routes.length === 1 && routes[0]!.dev === rec.veth && !routes[0]!.gateway)) {
      await ip(['route', 'replace', rec.route, 'dev', rec.veth]);
      changed.push('route');
    }
    const proxies = await ipJson<{ dst: string; dev?: string }>(['neigh', 'show', 'proxy', 'to', rec.ip, 'dev', rec.parent]);
    if (!proxies.some((n) => n.dst === rec.ip)) {
      await ip(['neigh', 'replace', 'proxy', rec.ip, 'dev', rec.parent]);
      changed.push('neigh proxy');
    }
    const needed = await iptablesNeeded();
    if (needed === null) {
      // A failed read changes nothing: a path keeps the rules it has (a lease renew re-runs this, and under
      // a DROP policy their removal takes the PLC off the LAN) and iptables is not touched; the next set-up
      // (the next renew) reads again.
      this.log.warn({ device: rec.container_name, vnic: rec.vnic_name, rules: rec.forward_rules.length }, 'FORWARD chain not readable: the path\'s rules are left as they are');
    } else {
      await this.settleForwardRules(rec, needed, changed);
    }
    if (rec.gateway) {
      // The LAN must be reached through the parent; otherwise the veth would proxy towards another interface.
      const [via] = await ipJson<{ dev?: string }>(['-4', 'route', 'get', rec.gateway]).catch(() => []);
      if (via?.dev && via.dev !== rec.parent) this.log.warn({ device: rec.container_name, vnic: rec.vnic_name, gateway: rec.gateway, dev: via.dev, parent: rec.parent }, `the host reaches the gateway through ${via.dev}, not ${rec.parent}: the runtime's traffic leaves there`);
    }
  }

  /** The path's FORWARD ACCEPT rules: there when the chain would drop its traffic, gone when it accepts. */
  private async settleForwardRules(rec: ProxyArpPath, needed: boolean, changed: string[]): Promise<void> {
    const rules = needed ? [['-i', rec.veth, '-o', rec.parent, '-j', 'ACCEPT'], ['-i', rec.parent, '-o', rec.veth, '-j', 'ACCEPT']] : [];
    for (const r of rules) {
      const present = await run('iptables', ['-w', '5', '-C', 'FORWARD', ...r], { timeout: 10_000 }).then(() => true, () => false);
      if (!present) {
        await run('iptables', ['-w', '5', '-I', 'FORWARD', '1', ...r], { timeout: 10_000 });
        changed.push('forward rule');
      }
      if (!rec.forward_rules.some((x) => x.join(' ') === r.join(' '))) rec.forward_rules.push(r);
    }
    if (rules.length === 0 && rec.forward_rules.length > 0) {
      // The chain accepts now (firewall changed): our rules are no longer needed.
      for (const r of rec.forward_rules) await run('iptables', ['-w', '5', '-D', 'FORWARD', ...r], { timeout: 10_000 }).catch(() => undefined);
      rec.forward_rules = [];
      changed.push('forward rules removed');
    }
  }

  /** Removes one path's pieces (each one tolerated as already gone) and forgets it; sysctls are settled by the caller. */
  private async removePath(rec: ProxyArpPath): Promise<void> {
    const failed: string[] = [];
    const tolerate = /Cannot find device|No such|does not exist|not found|Bad rule|RTNETLINK answers: No such process/i;
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        if (!tolerate.test(errText(e))) failed.push(`${what}: ${errText(e)}`);
      }
    };
    await attempt('neigh proxy', () => ip(['neigh', 'del', 'proxy', rec.ip, 'dev', rec.parent]));
    for (const r of rec.forward_rules) await attempt('forward rule', () => run('iptables', ['-w', '5', '-D', 'FORWARD', ...r], { timeout: 10_000 }));
    // The route and the namespace's default route go with the veth; deleting the route first keeps a
    // half-removed path from routing the address into nothing.
    await attempt('route', () => ip(['route', 'del', rec.route, 'dev', rec.veth]));
    await attempt('veth', () => ip(['link', 'del', rec.veth]));
    this.paths.delete(keyOf(rec.container_name, rec.vnic_name));
    if (failed.length > 0) this.log.warn({ device: rec.container_name, vnic: rec.vnic_name, failed }, 'proxy-ARP path removed with errors');
    else this.log.info({ device: rec.container_name, vnic: rec.vnic_name, ip: rec.ip, parent: rec.parent }, 'proxy-ARP path removed');
  }

  /**
   * Sysctls follow the paths: one any path needs is set to 1 (its earlier value recorded the first time);
   * one no path needs goes back to its earlier value. A value someone else changed since is left alone.
   */
  private settleSysctls(changed: string[] = [], strict = false): void {
    const needed = new Set([...this.paths.values()].flatMap((x) => x.sysctls));
    for (const p of needed) {
      const now = readSysctlSafe(p);
      if (now === null) {
        // A parent that went away (a Wi-Fi stick unplugged): its path is repaired when it is set up again.
        if (strict) throw new Error(`cannot read ${p}`);
        this.log.warn({ sysctl: sysctlName(p) }, 'sysctl of a proxy-ARP path cannot be read (interface gone?)');
        continue;
      }
      if (!this.sysctls.has(p)) this.sysctls.set(p, { path: p, earlier: now, value: '1' });
      if (now !== '1') {
        fs.writeFileSync(p, '1');
        changed.push(sysctlName(p));
      }
    }
    for (const s of [...this.sysctls.values()]) {
      if (needed.has(s.path)) continue;
      const now = readSysctlSafe(s.path);
      try {
        if (now === s.value && s.earlier !== s.value) fs.writeFileSync(s.path, s.earlier);
        this.sysctls.delete(s.path);
        this.log.info({ sysctl: sysctlName(s.path), restored: now === s.value ? s.earlier : null, now }, 'sysctl no longer needed by a proxy-ARP path');
      } catch (e) {
        // An interface that went away took its sysctl with it; anything else is retried at the next settle.
        if (now === null || (e as NodeJS.ErrnoException).code === 'ENOENT') this.sysctls.delete(s.path);
        else this.log.warn({ sysctl: sysctlName(s.path), err: (e as Error).message }, 'sysctl not restored');
      }
    }
  }
}

function readSysctlSafe(p: string): string | null {
  try {
    return readSysctl(p);
  } catch {
    return null;
  }
}

function asSysctl(c: unknown): OwnedSysctl | null {
  const o = c as Record<string, unknown> | null;
  if (!o || o.kind !== 'sysctl' || typeof o.path !== 'string' || !SYSCTL_PATH.test(o.path)) return null;
  if (typeof o.earlier !== 'string' || !/^\d{1,3}$/.test(o.earlier) || o.value !== '1') return null;
  return { path: o.path, earlier: o.earlier, value: o.value };
}

function asPath(c: unknown): ProxyArpPath | null {
  const o = c as Record<string, unknown> | null;
  if (!o || o.kind !== 'proxy_arp_path') return null;
  const p: ProxyArpParams = {
    container_name: o.container_name as string,
    vnic_name: o.vnic_name as string,
    pid: o.pid as number,
    parent: o.parent as string,
    ip: o.ip as string,
    prefix: o.prefix as number,
    gateway: (o.gateway ?? null) as string | null,
  };
  try {
    validateParams(p);
  } catch {
    return null;
  }
  const veth = vethName(p.container_name, p.vnic_name);
  if (o.veth !== veth) return null;
  const ifname = innerName(p.vnic_name);
  const rules = Array.isArray(o.forward_rules) ? (o.forward_rules as unknown[]) : [];
  const expected = [['-i', veth, '-o', p.parent, '-j', 'ACCEPT'], ['-i', p.parent, '-o', veth, '-j', 'ACCEPT']].map((r) => r.join(' '));
  // Only the rules this module makes are ever deleted on the strength of a handed-back list.
  const forward_rules = rules.filter((r): r is string[] => Array.isArray(r) && r.every((a) => typeof a === 'string') && expected.includes(r.join(' ')));
  return {
    ...p,
    veth,
    ifname,
    route: `${p.ip}/32`,
    neigh_proxy: { address: p.ip, dev: p.parent },
    forward_rules,
    default_route: o.default_route === true,
    sysctls: [IP_FORWARD, proxyArpSysctl(p.parent)],
  };
}

// ---- DHCP over Wi-Fi (CONTRACT §9.2) ----------------------------------------------------------------
// The lease is asked for on the host's Wi-Fi interface (the only MAC the access point lets through), with
// the vNIC's own client id (option 61) so that the server keeps one lease per vNIC; the path is built when
// the lease arrives. The script only prints (the same line format as dhcp.ts's, parsed by its
// parseScriptLine): udhcpc must never configure the host's interface.

/** Same output as dhcp.ts's script: `ORCH_DHCP<TAB>event<TAB>interface…`; it never touches an interface. */
export const WIFI_DHCP_SCRIPT = `#!/bin/sh
# udhcpc on the host's Wi-Fi interface for a runtime's vNIC: only reports (netmon src/netmon/proxy-arp.ts).
printf 'ORCH_DHCP\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$interface" "$ip" "$mask" "$subnet" "$router" "$dns" "$lease" "$mtu" "$staticroutes"
`;

/** Upstream's client id for a Wi-Fi vNIC: the text `<container>:<vnic>` (a reservation made for it keeps working). */
export const wifiClientId = (containerName: string, vnicName: string) => `${containerName}:${vnicName}`;

export interface WifiDhcpArgs {
  parent: string;
  scriptPath: string;
  /** The client id as text; sent as option 61 in hex, without busybox's MAC-based default. */
  clientId: string;
  hostname?: string;
  /** The address of the last lease (asked for again after a netmon restart). */
  requestIp?: string;
}

/** argv for `busybox udhcpc …` (no `-R`: the lease is not released when netmon stops; no `-b`/`-q`). */
export function wifiDhcpArgv(a: WifiDhcpArgs): string[] {
  if (!IFNAME.test(a.parent)) throw new Error(`parent: not an interface name: "${a.parent.slice(0, 32)}"`);
  const id = Buffer.from(a.clientId, 'utf8');
  if (id.length < 2 || id.length > 255) throw new Error('client id: expected 2–255 bytes');
  if (a.requestIp !== undefined && !IPV4.test(a.requestIp)) throw new Error(`requestIp: not an IPv4 address: "${a.requestIp.slice(0, 32)}"`);
  const argv = ['udhcpc', '-f', '-i', a.parent, '-s', a.scriptPath, '-t', '3', '-T', '2', '-A', '5', '-C', '-x', `0x3d:${id.toString('hex')}`];
  if (a.hostname && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(a.hostname)) argv.push('-x', `hostname:${a.hostname}`);
  if (a.requestIp !== undefined) argv.push('-r', a.requestIp);
  return argv;
}

/** The path a Wi-Fi lease asks for (to hand to setup()). */
export function leaseToParams(containerName: string, vnicName: string, pid: number, parent: string, lease: Lease): ProxyArpParams {
  return { container_name: containerName, vnic_name: vnicName, pid, parent, ip: lease.ip, prefix: lease.prefix, gateway: lease.gateway };
}

interface WifiClient {
  key: string;
  containerName: string;
  vnicName: string;
  pid: number;
  parent: string;
  clientId: string;
  child: ChildProcess;
  bound: Lease | null;
  stopping: boolean;
}

export interface WifiDhcpStart {
  container_name: string;
  vnic_name: string;
  /** A process in the runtime (the path is built into its namespace when the lease arrives). */
  pid: number;
  parent: string;
  /** Option 61 as text; default upstream's `<container>:<vnic>`. */
  client_id?: string;
  /** The address of the last lease, asked for again. */
  request_ip?: string;
}

/**
 * DHCP for vNICs on a Wi-Fi parent: one busybox udhcpc per vNIC on the host's Wi-Fi interface (its script
 * only prints), the path built (or moved) when a lease binds, removed when it is lost, each event reported
 * as a `dhcp_update` like dhcp.ts's (mac_address: the parent's MAC, the one the LAN sees).
 * Its script directory is named `orch-netmon-dhcp-…` so that killOrphanDhcpClients() ends the clients a
 * killed netmon left behind.
 */
export class WifiDhcpClients {
  private readonly clients = new Map<string, WifiClient>();
  private readonly retries = new Map<string, { n: number; timer: NodeJS.Timeout | null }>();
  private scriptPath: string | null = null;

  constructor(
    private readonly paths: ProxyArpPaths,
    private readonly emit: (ev: DhcpUpdate) => void,
    private readonly log: NetmonLog,
  ) {}

  private script(): string {
    return (this.scriptPath = scriptFile(`${DHCP_SCRIPT_DIR_PREFIX}wifi-`, WIFI_DHCP_SCRIPT, this.scriptPath));
  }

  /**
   * Starts (or keeps) the client of one vNIC. The same vNIC in a new namespace (a container restart) keeps
   * its client and lease: only the path moves to the new pid.
   */
  async start(a: WifiDhcpStart): Promise<{ started: boolean }> {
    validateParams({ container_name: a.container_name, vnic_name: a.vnic_name, pid: a.pid, parent: a.parent, ip: '0.0.0.0', prefix: 32, gateway: null });
    const key = keyOf(a.container_name, a.vnic_name);
    const clientId = a.client_id ?? wifiClientId(a.container_name, a.vnic_name);
    const old = this.clients.get(key);
    if (old && old.parent === a.parent && old.clientId === clientId && old.child.exitCode === null && !old.stopping) {
      if (old.pid !== a.pid) {
        old.pid = a.pid;
        if (old.bound) {
          await this.paths.setup(leaseToParams(old.containerName, old.vnicName, old.pid, old.parent, old.bound));
          writeLeaseDns(old.pid, old.vnicName, old.bound.dns); // a new container root after a restart
        }
      }
      return { started: false };
    }
    if (old) this.stopClient(old, true);
    const argv = wifiDhcpArgv({ parent: a.parent, scriptPath: this.script(), clientId, hostname: a.container_name, requestIp: a.request_ip ?? old?.bound?.ip });
    const child = spawn('busybox', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const c: WifiClient = { key, containerName: a.container_name, vnicName: a.vnic_name, pid: a.pid, parent: a.parent, clientId, child, bound: null, stopping: false };
    this.clients.set(key, c);
    const lines = new LineBuffer();
    let queue = Promise.resolve();
    child.stdout.on('data', (d: Buffer) => {
      for (const line of lines.push(d)) queue = queue.then(() => this.onLine(c, line));
    });
    child.stderr.on('data', () => undefined);
    child.on('error', (e) => this.log.warn({ device: c.containerName, vnic: c.vnicName, err: e.message }, 'Wi-Fi DHCP client could not run'));
    child.on('exit', (code, signal) => {
      if (this.clients.get(key) === c) this.clients.delete(key);
      if (c.stopping) return;
      const r = this.retries.get(key) ?? { n: 0, timer: null };
      r.n += 1;
      const delay = retryDelayMs(r.n);
      this.report(c, 'failed', null, `udhcpc exited (${signal ?? code}); trying again in ${Math.round(delay / 1000)} s`);
      if (r.timer) clearTimeout(r.timer);
      r.timer = setTimeout(() => {
        r.timer = null;
        if (this.clients.has(key) || !fs.existsSync(`/proc/${c.pid}`)) return;
        this.start({ container_name: c.containerName, vnic_name: c.vnicName, pid: c.pid, parent: c.parent, client_id: c.clientId, ...(c.bound ? { request_ip: c.bound.ip } : {}) }).catch((e: unknown) => this.report(c, 'failed', null, (e as Error).message));
      }, delay);
      r.timer.unref();
      this.retries.set(key, r);
    });
    this.log.info({ device: a.container_name, vnic: a.vnic_name, parent: a.parent, client_id: clientId }, 'Wi-Fi DHCP client started');
    return { started: true };
  }

  /** The runtime goes: its clients release their leases and its paths are removed. */
  async stop(containerName: string, vnicName?: string): Promise<number> {
    let n = 0;
    for (const c of [...this.clients.values()]) {
      if (c.containerName === containerName && (vnicName === undefined || c.vnicName === vnicName)) {
        this.stopClient(c, true);
        n++;
      }
    }
    await this.paths.teardown(containerName, vnicName);
    return n;
  }

  /** netmon stops: clients end without releasing; paths stay (the PLC keeps its address). */
  stopAll(): void {
    for (const c of [...this.clients.values()]) this.stopClient(c, false);
    this.scriptPath = removeScriptFile(this.scriptPath);
  }

  list(): { container_name: string; vnic_name: string; pid: number; parent: string; client_id: string; ip: string | null }[] {
    return [...this.clients.values()].map((c) => ({ container_name: c.containerName, vnic_name: c.vnicName, pid: c.pid, parent: c.parent, client_id: c.clientId, ip: c.bound?.ip ?? null }));
  }

  private stopClient(c: WifiClient, release: boolean): void {
    const r = this.retries.get(c.key);
    if (r?.timer) clearTimeout(r.timer);
    this.retries.delete(c.key);
    if (this.clients.get(c.key) === c) this.clients.delete(c.key);
    endClient(c, release);
  }

  private onLine(c: WifiClient, line: string): Promise<void> {
    return handleScriptLine(
      c,
      {
        // The path follows the lease (a new address moves it; the same one changes nothing).
        apply: async (l) => {
          await this.paths.setup(leaseToParams(c.containerName, c.vnicName, c.pid, c.parent, l));
          writeLeaseDns(c.pid, c.vnicName, l.dns);
        },
        drop: () => this.paths.teardown(c.containerName, c.vnicName).then(() => undefined),
        report: (event, l, message) => this.report(c, event, l, message),
        settled: () => void this.retries.delete(c.key),
      },
      line,
    );
  }

  private report(c: WifiClient, event: DhcpEvent, l: Lease | null, message?: string): void {
    // mac_address: the parent's, the one the LAN sees.
    this.emit(dhcpUpdate({ container_name: c.containerName, vnic_name: c.vnicName, mac_address: readSysctlSafe(`/sys/class/net/${c.parent}/address`) ?? '' }, event, l, message));
  }

}
