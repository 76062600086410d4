// doctor's "clock" line: is the system clock synchronized? TLS to the cloud and certificate expiry depend
// on it. Asked of what the box has, in order: timedatectl (systemd), systemd-timesyncd's marker file,
// chronyc. None of them (a minimal host, or doctor inside the agent's container): unknown, a WARN.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { check, type Check } from './doctor-check.js';

export interface ClockProbe {
  /** A command's stdout, or null when it is missing or fails. */
  run(cmd: string, args: string[]): string | null;
  exists(file: string): boolean;
}

export const hostClockProbe: ClockProbe = {
  run: (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
  },
  exists: (file) => fs.existsSync(file),
};

/** Touched by systemd-timesyncd at each synchronization (removed at boot: /run is a tmpfs). */
export const TIMESYNCD_MARKER = '/run/systemd/timesync/synchronized';
const HINT_OFF = 'the clock is not synchronized: enable NTP (timedatectl set-ntp true, or chrony); a wrong clock breaks TLS to the cloud and the certificate\'s validity';

export function clockCheck(p: ClockProbe = hostClockProbe): Check {
  const td = p.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'])?.trim();
  if (td === 'yes') return check('OK', 'clock', 'synchronized (timedatectl: NTPSynchronized=yes)');
  if (td === 'no') return check('WARN', 'clock', 'not synchronized (timedatectl: NTPSynchronized=no)', HINT_OFF);
  if (p.exists(TIMESYNCD_MARKER)) return check('OK', 'clock', `synchronized (systemd-timesyncd: ${TIMESYNCD_MARKER})`);
  const leap = /^Leap status\s*:\s*(.+)$/m.exec(p.run('chronyc', ['-n', 'tracking']) ?? '')?.[1]?.trim();
  if (leap === 'Normal') return check('OK', 'clock', 'synchronized (chronyc tracking: leap status Normal)');
  if (leap !== undefined) return check('WARN', 'clock', `not synchronized (chronyc tracking: leap status ${leap})`, HINT_OFF);
  return check('WARN', 'clock', `synchronization unknown: no timedatectl, ${TIMESYNCD_MARKER} or chronyc here`, 'check on the host: timedatectl (NTPSynchronized=yes) or chronyc tracking; inside the agent\'s container the host\'s time service is not visible');
}
