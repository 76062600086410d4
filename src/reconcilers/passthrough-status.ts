// What get_device_status reports of a runtime's passed-through hardware (CONTRACT §9.3, §9.4), derived from
// netmon's facts and the nodes made in the running container (pure).
import type { ObservedContainer } from '../docker/observed.js';
import { matchDevice } from '../domain/serial-match.js';
import type { SerialDevice } from '../netmon/iface.js';
import type { HostInterface, RuntimeRecord, RuntimeStatus } from '../store/schema.js';
import type { Failure } from './status.js';

export function passthroughStatus(
  rec: RuntimeRecord,
  c: ObservedContainer | undefined,
  facts: { interfaces: readonly HostInterface[]; serialDevices: readonly SerialDevice[]; serialMajors?: readonly number[] },
  serialNodes: ReadonlyMap<string, string>,
  serialFailure: Failure | undefined,
  nicFailure?: Failure,
): { serialPorts: RuntimeStatus['serialPorts']; dedicatedInterface: RuntimeStatus['dedicatedInterface'] | undefined } {
  const running = c?.state === 'running';
  const serialPorts = rec.spec.serialConfigs?.map((sc) => {
    const d = matchDevice(sc, facts.serialDevices);
    const base = { name: sc.name, device_id: sc.deviceId, container_path: sc.containerPath };
    // Unplugged: the node is removed from the container (a later device of that number is not reachable through it).
    if (!d) return { ...base, status: 'disconnected' as const, current_host_path: null, major: null, minor: null, error: null };
    if (facts.serialMajors !== undefined && !facts.serialMajors.includes(d.major)) {
      return { ...base, status: 'error' as const, current_host_path: d.path, major: d.major, minor: d.minor, error: `major ${d.major} of ${d.path} is not in ORCH_SERIAL_MAJORS (${facts.serialMajors.join(',')})` };
    }
    const made = running && serialNodes.get(`${c.id}/${sc.containerPath}`) === `${d.major}:${d.minor}`;
    const failed = !made && running && serialFailure !== undefined && serialFailure.message.includes(sc.containerPath);
    return {
      ...base,
      status: made ? ('connected' as const) : failed ? ('error' as const) : ('disconnected' as const),
      current_host_path: d.path,
      major: d.major,
      minor: d.minor,
      error: failed ? serialFailure.message : null,
    };
  });
  const nic = rec.spec.dedicatedInterface;
  const present = nic !== undefined && running && facts.interfaces.some((i) => i.interface === nic && i.dedicated_to === rec.spec.name);
  // Absent keys mean "not configured": the caller removes what an earlier spec left.
  return {
    serialPorts,
    dedicatedInterface: nic === undefined ? undefined : { name: nic, present, ...(!present && nicFailure ? { error: nicFailure.message } : {}) },
  };
}
