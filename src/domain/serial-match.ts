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
