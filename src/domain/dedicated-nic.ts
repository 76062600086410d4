// Whether a host NIC may be dedicated to a runtime (CONTRACT §9.3). Pure: judged from netmon's facts and
// the declared runtimes, so the rule that protects the box's uplink is unit-tested without moving one.
import type { RuntimeSpec } from './runtime-spec.js';

interface NicFact {
  interface: string;
  type: 'ethernet' | 'wifi';
  gateway: string | null;
  status?: 'down' | 'removed' | undefined;
  default_route?: boolean | undefined;
  dedicated_to?: string | undefined;
}

export interface DedicationInput {
  spec: RuntimeSpec;
  /** netmon's current facts; null when it never reported (nothing can be judged). */
  interfaces: readonly NicFact[] | null;
  /** Other declared runtimes (those being deleted excluded by the caller). */
  others: readonly RuntimeSpec[];
  /** The interface the host's route to the cloud leaves through; null when there is no cloud or it is unknown. */
  cloudInterface: string | null;
}

/** Why `spec.dedicatedInterface` cannot be given to this runtime, naming the field; null when it can. */
export function dedicationRefusal({ spec, interfaces, others, cloudInterface }: DedicationInput): string | null {
  const nic = spec.dedicatedInterface;
  if (nic === undefined) return null;
  const at = `dedicated_interface: ${nic}`;
  if (interfaces === null) return `${at}: netmon has not reported the host's interfaces; a NIC is dedicated only once it is known`;
  const fact = interfaces.find((i) => i.interface === nic && i.status !== 'removed');
  const owner = others.find((o) => o.dedicatedInterface === nic)?.name ?? (fact?.dedicated_to !== undefined && fact.dedicated_to !== spec.name ? fact.dedicated_to : undefined);
  if (owner !== undefined) return `${at} is already dedicated to ${owner}`;
  if (!fact) return `${at}: netmon does not know this interface`;
  if (fact.type === 'wifi') return `${at} is a Wi-Fi interface; only an Ethernet NIC can be dedicated`;
  const parentOf = others.find((o) => o.vnics.some((v) => v.parentInterface === nic));
  if (parentOf) return `${at} is the parent of a vNIC of ${parentOf.name}`;
  if (spec.vnics.some((v) => v.parentInterface === nic)) return `${at} is the parent of a vNIC of this runtime`;
  if (fact.default_route === true || fact.gateway !== null) return `${at} carries the host's default route; moving it would cut the box off`;
  if (cloudInterface === nic) return `${at} carries the host's route to the cloud; moving it would cut the box off`;
  return null;
}

/** A vNIC whose parent another runtime has as its dedicated NIC: that NIC belongs to that runtime alone. */
export function parentDedicatedElsewhere(spec: RuntimeSpec, others: readonly RuntimeSpec[]): string | null {
  for (const [i, v] of spec.vnics.entries()) {
    const owner = others.find((o) => o.dedicatedInterface === v.parentInterface);
    if (owner) return `vnic_configs[${i}].parent_interface: ${v.parentInterface} is dedicated to ${owner.name}`;
  }
  return null;
}
