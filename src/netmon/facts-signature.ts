// What the facts (interface-facts.ts) are made of, read in netmon's own process, without a child: the 30 s
// re-discovery compares it with the one taken before the last `ip` read and, when they are equal, sends
// that read's facts again (fresh timestamps) instead of running `ip` twice. Why: a child spawned by
// netmon's node costs ~5 ms of CPU in netmon and 5–10 ms in the child (fork of a 44 MiB process, exec);
// the two reads every 30 s were more than half of netmon's idle CPU (docs/performance.md, "netmon idle
// CPU", 2026-12-04). What is in it:
// - per link the facts do not ignore (iface.ts): ifindex, operstate, flags, address (the MAC), type
//   (link_type) and the Wi-Fi markers of sysfs;
// - /proc/net/route (the main table: default routes with their device and gateway, prefix routes);
// - /proc/net/fib_trie (every local IPv4 address, also one on a link that is down);
// - the IPv4 addresses and netmasks of every link that is up and running (getifaddrs(3), through
//   os.networkInterfaces(), which leaves out the links that are not).
// What it cannot see, so the daemon reads with `ip` whenever the last read had it: a new prefix of an
// address on a link that is not up (fib_trie holds only its /32 then), and a multipath route's nexthops
// past the first (/proc/net/route shows the first). A single route made multipath through the same first
// nexthop is the one change it misses: the daemon's periodic full read catches that.
import fs from 'node:fs';
import os from 'node:os';
import { isIgnoredInterface } from './iface.js';

export interface SignaturePaths {
  sysClassNet: string;
  procNet: string;
}

const SYSTEM: SignaturePaths = { sysClassNet: '/sys/class/net', procNet: '/proc/net' };
const LINK_FILES = ['ifindex', 'operstate', 'flags', 'address', 'type'];
const WIFI_MARKERS = ['wireless', 'phy80211'];

let unreadable = 0;

const read = (file: string): string => {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return '(none)'; // gone, or not there at all: a state like any other
  }
};

/** A string that differs whenever a fact it covers differs (see above). `addresses`: os.networkInterfaces. */
export function factsSignature(paths: SignaturePaths = SYSTEM, addresses: () => NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces): string {
  let names: string[] = [];
  try {
    names = fs.readdirSync(paths.sysClassNet).sort();
  } catch {
    // no sysfs here: the rest still tells
  }
  const parts: string[] = [];
  for (const name of names) {
    if (isIgnoredInterface(name)) continue;
    const dir = `${paths.sysClassNet}/${name}`;
    parts.push(`${name}`, ...LINK_FILES.map((f) => read(`${dir}/${f}`)), ...WIFI_MARKERS.map((m) => String(fs.existsSync(`${dir}/${m}`))));
  }
  parts.push(read(`${paths.procNet}/route`), read(`${paths.procNet}/fib_trie`));
  let byLabel: NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  try {
    byLabel = addresses();
  } catch {
    return `${parts.join('\n')}\n(addresses unreadable, #${++unreadable})`; // equal to none: `ip` reads
  }
  // Keys are labels ("eth0:1" for an alias): the device's name is before the colon.
  for (const [label, infos] of Object.entries(byLabel)) {
    if (isIgnoredInterface(label.split(':')[0]!)) continue;
    for (const i of infos ?? []) if (i.family === 'IPv4') parts.push(`${label} ${i.address} ${i.netmask}`);
  }
  return parts.join('\n');
}
