// Interface facts from `ip -j addr`, `ip -j route` and /sys/class/net (never systeminformation's
// networkInterfaces, which blocks the event loop ~250 ms and misses links without an address).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { formatCidr, parseCidr } from '../domain/ipv4.js';
import { isIgnoredInterface, type Iface } from './iface.js';

const run = promisify(execFile);

export interface IpAddr {
  ifindex: number;
  ifname: string;
  operstate: string;
  flags?: string[];
  address?: string;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  /** A multipath route names its links here instead of `dev`. */
  nexthops?: { gateway?: string; dev?: string }[];
}

/** Wi-Fi by name (CONTRACT §9.2), for drivers that show neither `wireless` nor `phy80211` in sysfs. */
const WIFI_PREFIXES = ['wlan', 'wlp', 'wlx'];

/**
 * Pure: builds the reported interfaces from `ip -j` output and the set of interface names known to be
 * wireless (sysfs, or ORCH_NETMON_WIFI_INTERFACES); a name starting with wlan/wlp/wlx is Wi-Fi too.
 * `default_route: true` when a default route leaves through the link (with or without a gateway); the
 * field is absent otherwise.
 */
export function buildIfaces(addrs: IpAddr[], routes: IpRoute[], wireless: ReadonlySet<string>, now = new Date()): Iface[] {
  const timestamp = now.toISOString();
  return addrs
    .filter((a) => !isIgnoredInterface(a.ifname) && (a.link_type === undefined || a.link_type === 'ether'))
    .map((a) => {
      const up = a.operstate === 'UP' || (a.operstate === 'UNKNOWN' && (a.flags ?? []).includes('UP'));
      const ipv4 = (a.addr_info ?? [])
        .filter((i) => i.family === 'inet')
        .map((i) => {
          const c = parseCidr(`${i.local}/${i.prefixlen}`)!;
          return { address: i.local, prefixlen: i.prefixlen, subnet: formatCidr(c), network_address: formatCidr(c).split('/')[0]! };
        });
      const defaults = routes.filter((r) => r.dst === 'default').flatMap((r) => (r.nexthops ?? [r]).filter((h) => h.dev === a.ifname));
      const gw = defaults.find((r) => r.gateway)?.gateway ?? null;
      const iface: Iface = {
        interface: a.ifname,
        index: a.ifindex,
        operstate: a.operstate.toLowerCase(),
        type: wireless.has(a.ifname) || WIFI_PREFIXES.some((p) => a.ifname.startsWith(p)) ? 'wifi' : 'ethernet',
        mac_address: a.address ?? null,
        ipv4_addresses: ipv4,
        gateway: gw,
        timestamp,
      };
      if (!up) iface.status = 'down';
      if (defaults.length > 0) iface.default_route = true;
      return iface;
    });
}

/** The host's interfaces; `wifiNames`: ORCH_NETMON_WIFI_INTERFACES, Wi-Fi whatever sysfs says. */
export async function readIfaces(wifiNames: readonly string[] = []): Promise<Iface[]> {
  return (await readFacts(wifiNames)).ifaces;
}

/** readIfaces, and whether a default route is multipath (facts-signature.ts cannot vouch for its nexthops). */
export async function readFacts(wifiNames: readonly string[] = []): Promise<{ ifaces: Iface[]; multipath: boolean }> {
  const [addr, route, names] = await Promise.all([
    run('ip', ['-j', 'addr', 'show'], { maxBuffer: 16 * 2 ** 20 }),
    run('ip', ['-j', '-4', 'route', 'show'], { maxBuffer: 16 * 2 ** 20 }),
    fs.readdir('/sys/class/net').catch(() => [] as string[]),
  ]);
  const wireless = new Set<string>(wifiNames);
  await Promise.all(
    names.map(async (n) => {
      const w = await fs.access(`/sys/class/net/${n}/wireless`).then(() => true, () => fs.access(`/sys/class/net/${n}/phy80211`).then(() => true, () => false));
      if (w) wireless.add(n);
    }),
  );
  const routes = JSON.parse(route.stdout || '[]') as IpRoute[];
  return { ifaces: buildIfaces(JSON.parse(addr.stdout) as IpAddr[], routes, wireless), multipath: routes.some((r) => r.dst === 'default' && r.nexthops !== undefined) };
}
