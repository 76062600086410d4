// Interface facts from `ip -j addr`, `ip -j route` and /sys/class/net (never systeminformation's
// networkInterfaces, which blocks the event loop ~250 ms and misses links without an address).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { formatCidr, parseCidr } from '../domain/ipv4.js';
import { isIgnoredInterface, type Iface } from './iface.js';

const run = promisify(execFile);

interface IpAddr {
  ifindex: number;
  ifname: string;
  operstate: string;
  flags?: string[];
  address?: string;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** Pure: builds the reported interfaces from `ip -j` output and the set of wireless interface names. */
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
      const gw = routes.find((r) => r.dst === 'default' && r.dev === a.ifname && r.gateway)?.gateway ?? null;
      const iface: Iface = {
        interface: a.ifname,
        index: a.ifindex,
        operstate: a.operstate.toLowerCase(),
        type: wireless.has(a.ifname) ? 'wifi' : 'ethernet',
        mac_address: a.address ?? null,
        ipv4_addresses: ipv4,
        gateway: gw,
        timestamp,
      };
      if (!up) iface.status = 'down';
      return iface;
    });
}

export async function readIfaces(): Promise<Iface[]> {
  const [addr, route, names] = await Promise.all([
    run('ip', ['-j', 'addr', 'show'], { maxBuffer: 16 * 2 ** 20 }),
    run('ip', ['-j', '-4', 'route', 'show'], { maxBuffer: 16 * 2 ** 20 }),
    fs.readdir('/sys/class/net').catch(() => [] as string[]),
  ]);
  const wireless = new Set<string>();
  await Promise.all(
    names.map(async (n) => {
      const w = await fs.access(`/sys/class/net/${n}/wireless`).then(() => true, () => fs.access(`/sys/class/net/${n}/phy80211`).then(() => true, () => false));
      if (w) wireless.add(n);
    }),
  );
  return buildIfaces(JSON.parse(addr.stdout) as IpAddr[], JSON.parse(route.stdout || '[]') as IpRoute[], wireless);
}
