// What netmon reports about an interface (CONTRACT §6), without zod: the sidecar loads only what it
// runs (zod costs ~14 MiB VmRSS to import). protocol.ts holds the schemas the agent validates with.
export const IGNORED_PREFIXES = ['docker', 'br-', 'veth', 'virbr', 'macvtap', 'tailscale', 'wg', 'zt', 'cni', 'flannel', 'cilium'];
// One regular expression rather than a startsWith per prefix: netmon's look tests every link every 2 s.
const IGNORED = new RegExp(`^(?:lo$|${IGNORED_PREFIXES.map((p) => p.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')).join('|')})`);
export const isIgnoredInterface = (name: string) => IGNORED.test(name);

export interface Iface {
  interface: string;
  index: number;
  operstate: string;
  type: 'ethernet' | 'wifi';
  mac_address: string | null;
  ipv4_addresses: { address: string; prefixlen: number; subnet: string; network_address: string }[];
  gateway: string | null;
  timestamp: string;
  status?: 'down' | 'removed' | undefined;
  /** A default route leaves through it (CONTRACT §9.3: never dedicated to a runtime). */
  default_route?: boolean | undefined;
  /** Moved into this runtime's network namespace by `nic_move` (CONTRACT §9.3). */
  dedicated_to?: string | undefined;
}

/** A serial device netmon found (CONTRACT §9.4, upstream §13.11's object). */
export interface SerialDevice {
  path: string;
  by_id: string | null;
  major: number;
  minor: number;
  vendor_id: string | null;
  product_id: string | null;
  serial: string | null;
  subsystem: 'tty';
  manufacturer: string | null;
  product: string | null;
}

// CONTRACT §6 sends network_change as the Iface itself, not wrapped, and both carry `type`: at the top
// level `type` is the event's, so the link kind travels as `interface_type` there (docs/network-monitor.md).
export const changeEvent = (i: Iface) => {
  const { type, ...rest } = i;
  return { type: 'network_change' as const, interface_type: type, ...rest };
};
