// Which host serial device a runtime's serial port means (CONTRACT §9.4, upstream §13.11's rule).
import type { SerialDevice } from '../netmon/iface.js';
import type { SerialConfig } from './runtime-spec.js';

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/**
 * The device whose stable id (`by_id`) equals or contains the config's `device_id`, or is contained in it;
 * else the one whose path's basename the `device_id` contains. Stable ids first: `ttyUSB0` may be another
 * adapter after a re-plug, the by-id name follows the adapter.
 */
export function matchDevice(config: Pick<SerialConfig, 'deviceId'>, devices: readonly SerialDevice[]): SerialDevice | null {
  const id = config.deviceId;
  const byId = devices.find((d) => d.by_id !== null && (d.by_id === id || d.by_id.includes(id) || id.includes(basename(d.by_id))));
  if (byId) return byId;
  // Longest basename first: `ttyUSB10` must not be taken for `ttyUSB1`.
  return [...devices].sort((a, b) => basename(b.path).length - basename(a.path).length).find((d) => id.includes(basename(d.path))) ?? null;
}

/** A device's cgroup name, `major:minor` (the form of the serial-grants label). */
export const devNumber = (d: Pick<SerialDevice, 'major' | 'minor'>) => `${d.major}:${d.minor}`;

/**
 * The devices a runtime's serial ports match now whose major ORCH_SERIAL_MAJORS allows: what its device cgroup
 * rules grant (`c major:minor rwm`), and nothing else (CONTRACT §9.4).
 */
export function deviceGrants(configs: readonly Pick<SerialConfig, 'deviceId'>[], devices: readonly SerialDevice[], majors: readonly number[]): string[] {
  const out = new Set<string>();
  for (const sc of configs) {
    const d = matchDevice(sc, devices);
    if (d && majors.includes(d.major)) out.add(devNumber(d));
  }
  return [...out];
}

/** The grants a container was created with (its label); null for one made by an agent that granted whole majors. */
export function grantsOf(labels: Readonly<Record<string, string>>, label: string): Set<string> | null {
  const v = labels[label];
  return v === undefined ? null : new Set(v.split(',').filter((g) => g !== ''));
}
