// Acting inside a runtime's network namespace (netmon has host pid and network namespaces): read the
// MACs there, and set a vNIC's MAC where Docker ignored the requested one (CONTRACT §7).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NsIface {
  ifindex: number;
  ifname: string;
  mac: string;
  ipv4: string[];
}

export async function namespaceIfaces(pid: number): Promise<NsIface[]> {
  const { stdout } = await run('nsenter', ['-t', String(pid), '-n', 'ip', '-j', 'addr', 'show'], { timeout: 5000 });
  const list = JSON.parse(stdout) as { ifindex?: number; ifname: string; address?: string; addr_info?: { family: string; local: string }[] }[];
  return list
    .filter((i) => i.ifname !== 'lo')
    .map((i) => ({ ifindex: i.ifindex ?? 0, ifname: i.ifname.split('@')[0]!, mac: i.address ?? '', ipv4: (i.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local) }));
}

/** Sets the MAC of the interface that holds `ip` in the namespace of `pid`; returns its name. */
export async function setMacByIp(pid: number, ip: string, mac: string): Promise<string> {
  const target = (await namespaceIfaces(pid)).find((i) => i.ipv4.includes(ip));
  if (!target) throw new Error(`no interface with ${ip} in the network namespace of pid ${pid}`);
  if (target.mac !== mac) await run('nsenter', ['-t', String(pid), '-n', 'ip', 'link', 'set', 'dev', target.ifname, 'address', mac], { timeout: 5000 });
  return target.ifname;
}
