// What makes netmon read the interfaces again: the kernel's own files, compared with the previous look
// every pollMs (2 s in the daemon; its per-interface debounce follows). Why not `ip monitor` as a child:
// it cost 2.5–3 MiB VmRSS, more than netmon's margin under its 45 MiB target (issue #12); what a look
// costs is at LOOK_EVERY_MS in daemon.ts. What is looked at:
// - per interface, by name: /sys/class/net/<if>/operstate (a link added, removed, up or down; a new MAC
//   alone waits for the 30 s re-discovery); names the facts ignore (Docker's veths and bridges, by the
//   dozen) are never read;
// - /proc/net/route, line by line: a change names the line's interface (a gateway, a prefix route);
// - /proc/net/fib_trie: every local IPv4 address, also one that adds no route (a /32, a second address
//   in a subnet, a DHCP renewal to another address of the same subnet); it names no interface, so a
//   change is null, "look at all of them" (the daemon then sends only what differs).
// The files are the kernel's, made in memory on read, so they are read synchronously (like cgroup files),
// into one buffer (open, read, close: no stat). /proc/net/route and fib_trie are compared as bytes with
// the previous look's; the route lines are split by interface only when the bytes differ.
import fs from 'node:fs';
import { isIgnoredInterface } from './iface.js';

export interface LinkMonitorPaths {
  sysClassNet: string;
  procNet: string;
}

const SYSTEM: LinkMonitorPaths = { sysClassNet: '/sys/class/net', procNet: '/proc/net' };

let buf = Buffer.allocUnsafe(16 << 10);

/** The file's bytes at the start of `buf` (grown as needed); -1 if it cannot be read. */
function readIntoBuffer(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return -1; // gone between the listing and the read, or not there at all: a difference like any other
  }
  try {
    let n = 0;
    for (;;) {
      if (n === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) return n;
      n += r;
    }
  } catch {
    return -1;
  } finally {
    fs.closeSync(fd);
  }
}

const readText = (file: string): string | null => {
  const n = readIntoBuffer(file);
  return n < 0 ? null : buf.toString('latin1', 0, n);
};

/** The file's bytes unless they equal `previous` (then `previous` itself); null if it cannot be read. */
function readIfChanged(file: string, previous: Buffer | null): Buffer | null {
  const n = readIntoBuffer(file);
  if (n < 0) return null;
  if (previous !== null && previous.length === n && buf.compare(previous, 0, n, 0, n) === 0) return previous;
  return Buffer.from(buf.subarray(0, n));
}

/** Iface (the first column) → its lines; the header line and the routes of ignored interfaces left out. */
function routesByIface(text: string): Map<string, string> {
  const routes = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const tab = line.indexOf('\t');
    const iface = line.slice(0, tab);
    if (tab <= 0 || isIgnoredInterface(iface)) continue;
    routes.set(iface, `${routes.get(iface) ?? ''}${line}\n`);
  }
  return routes;
}

export class LinkMonitor {
  private links = new Map<string, string>();
  private routes = new Map<string, string>();
  private routeBytes: Buffer | null = null;
  private addresses: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: (iface: string | null) => void,
    private readonly pollMs = 2000,
    private readonly paths: LinkMonitorPaths = SYSTEM,
  ) {}

  start(): void {
    if (this.timer) return;
    this.look(false);
    this.timer = setInterval(() => this.look(true), this.pollMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Compares the files with the previous look and reports each difference (nothing when !report). */
  look(report = true): void {
    const links = new Map<string, string>();
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.paths.sysClassNet);
    } catch {
      // no sysfs here: the other two files still tell
    }
    for (const name of names) {
      if (isIgnoredInterface(name)) continue;
      links.set(name, readText(`${this.paths.sysClassNet}/${name}/operstate`) ?? '(gone)');
    }
    const routeBytes = readIfChanged(`${this.paths.procNet}/route`, this.routeBytes);
    const routes = routeBytes !== null && routeBytes === this.routeBytes ? this.routes : routesByIface(routeBytes?.toString('latin1') ?? '');
    this.routeBytes = routeBytes;
    const addresses = readIfChanged(`${this.paths.procNet}/fib_trie`, this.addresses);
    const sameAddresses = addresses === this.addresses;
    this.addresses = addresses;
    if (report) {
      const changed = new Set<string>();
      for (const [now, before] of [[links, this.links], [routes, this.routes]] as const) {
        if (now === before) continue; // the route bytes did not change
        for (const [name, v] of now) if (before.get(name) !== v) changed.add(name);
        for (const name of before.keys()) if (!now.has(name)) changed.add(name);
      }
      for (const name of changed) this.onChange(name);
      if (!sameAddresses) this.onChange(null);
    }
    this.links = links;
    this.routes = routes;
  }
}
