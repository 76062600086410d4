// udhcpc clients left by a netmon that died (SIGKILL, crash): they hold a runtime's namespace and would
// answer for a lease nobody applies. Found by their script directory, `orch-netmon-dhcp-…` (dhcp.ts,
// proxy-arp.ts). Apart from dhcp.ts so that netmon's start loads no DHCP code when no vNIC uses DHCP.
import fs from 'node:fs';
import path from 'node:path';

export const DHCP_SCRIPT_DIR_PREFIX = 'orch-netmon-dhcp-';

/** Sends SIGTERM to every such client; how many there were. */
export function killOrphanDhcpClients(): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('udhcpc') && cmd.some((a) => a.includes(`${path.sep}${DHCP_SCRIPT_DIR_PREFIX}`))) {
        process.kill(Number(pid), 'SIGTERM');
        n++;
      }
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return n;
}
