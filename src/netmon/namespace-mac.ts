// Acting inside a runtime's network namespace (netmon has host pid and network namespaces): read the
// interfaces there, and set a vNIC's MAC where Docker ignored the requested one (CONTRACT §7).
// A MACVLAN endpoint's interface is found by its parent link (the host interface it sits on): the one
// thing that cannot change under it. Its address is Docker's IPAM one only until a DHCP lease replaces
// it, and its MAC is Docker's only until the agent sets the promised one (CONTRACT §9.1).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NsIface {
  ifindex: number;
  ifname: string;
  mac: string;
  ipv4: string[];
  /** The host interface this one sits on (a MACVLAN endpoint's parent), or null. */
  parent: string | null;
}

/** Host interface names by ifindex, read in netmon's (the host's) network namespace. */
function hostIfnames(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/sys/class/net')) {
    try {
      out.set(Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')), name);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function namespaceIfaces(pid: number): Promise<NsIface[]> {
  const { stdout } = await run('nsenter', ['-t', String(pid), '-n', 'ip', '-j', 'addr', 'show'], { timeout: 5000 });
  const list = JSON.parse(stdout) as { ifindex?: number; ifname: string; address?: string; link_index?: number; link_netnsid?: number; addr_info?: { family: string; local: string }[] }[];
  // A link in another namespace (link_netnsid set) is the host's: Docker's daemon and netmon share it.
  const host = list.some((i) => i.link_netnsid !== undefined) ? hostIfnames() : new Map<number, string>();
  return list
    .filter((i) => i.ifname !== 'lo')
    .map((i) => ({
      ifindex: i.ifindex ?? 0,
      ifname: i.ifname.split('@')[0]!,
      mac: (i.address ?? '').toLowerCase(),
      ipv4: (i.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local),
      parent: i.link_netnsid !== undefined && i.link_index !== undefined ? (host.get(i.link_index) ?? null) : null,
    }));
}

/** Sets the MAC of the interface on host parent `parent` in the namespace of `pid`; returns its name. */
export async function setMacOnParent(pid: number, parent: string, mac: string): Promise<string> {
  const target = (await namespaceIfaces(pid)).find((i) => i.parent === parent);
  if (!target) throw new Error(`no interface on parent ${parent} in the network namespace of pid ${pid}`);
  if (target.mac !== mac) await run('nsenter', ['-t', String(pid), '-n', 'ip', 'link', 'set', 'dev', target.ifname, 'address', mac], { timeout: 5000 });
  return target.ifname;
}
