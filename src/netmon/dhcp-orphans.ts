// udhcpc clients left by a netmon that died (SIGKILL, crash): they hold a runtime's namespace and would
// answer for a lease nobody applies. Found by their script directory, `orch-netmon-dhcp-…` (dhcp.ts,
// proxy-arp.ts). Apart from dhcp.ts so that netmon's start loads no DHCP code when no vNIC uses DHCP.
import fs from 'node:fs';
import path from 'node:path';

export const DHCP_SCRIPT_DIR_PREFIX = 'orch-netmon-dhcp-';

const cmdline = (proc: string, pid: string) => fs.readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0');
/** The parent's command line; [] when it cannot be read (gone, not ours to read): then not a live netmon. */
const parentCmdline = (proc: string, pid: string) => {
  try {
    return cmdline(proc, parentOf(proc, pid));
  } catch {
    return [];
  }
};

/** The parent's pid, from /proc/<pid>/stat (the field after the command, which may hold spaces). */
const parentOf = (proc: string, pid: string) => {
  const stat = fs.readFileSync(`${proc}/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '';
};

/**
 * Sends SIGTERM to every such client whose parent is not a live netmon; how many there were. A client's
 * parent is the netmon that spawned it (nsenter and busybox exec in place); an orphan's is init or a
 * subreaper (the dead netmon container's shim). A live netmon's clients are its own business: a second
 * netmon in the same PID namespace (two test passes at once; a swap's new netmon starting early) would
 * otherwise end them and take its PLCs off the LAN (seen in wifi.test.ts with two passes at once).
 */
export function killOrphanDhcpClients(proc = '/proc', kill: (pid: number) => void = (pid) => void process.kill(pid, 'SIGTERM')): number {
  let n = 0;
  for (const pid of fs.readdirSync(proc).filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = cmdline(proc, pid);
      if (cmd.includes('udhcpc') && cmd.some((a) => a.includes(`${path.sep}${DHCP_SCRIPT_DIR_PREFIX}`)) && !parentCmdline(proc, pid).includes('netmon')) {
        kill(Number(pid));
        n++;
      }
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return n;
}
