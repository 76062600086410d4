// Where each vNIC of a runtime attaches: its MACVLAN network (parent + subnet, the subnet from the spec or
// else from netmon's facts), MAC and static address.
import type { HostInterface } from '../store/schema.js';
import { cidrContains, parseCidr, parseIpv4 } from './ipv4.js';
import { macvlanNetworkName } from './names.js';
import { vnicMac, type RuntimeSpec, type VnicSpec } from './runtime-spec.js';

export interface Attachment {
  vnic: VnicSpec;
  parent: string;
  mac: string;
  ip: string | null; // static address, else Docker IPAM picks one (until DHCP exists)
  subnet: string | null; // null: unknown yet (netmon has not reported the parent)
  gateway: string | null;
  network: string | null; // macvlan_<parent>_<a.b.c.d>_<prefix>, null while the subnet is unknown or on Wi-Fi
  /** The parent is Wi-Fi (CONTRACT §9.2): no MACVLAN network, the proxy-ARP path through netmon instead. */
  wifi: boolean;
}

/** Wi-Fi by netmon's facts (sysfs, or ORCH_NETMON_WIFI_INTERFACES), or by name before netmon reported. */
export const isWifiParent = (parent: string, host: readonly HostInterface[]) =>
  host.find((h) => h.interface === parent)?.type === 'wifi' || /^(wlan|wlp|wlx)/.test(parent);

/** The status network name of a vNIC on a Wi-Fi parent (CONTRACT §9.2). */
export const wifiNetworkName = (parent: string, vnic: string) => `wifi_${parent}_${vnic}`;

export function attachmentsOf(spec: RuntimeSpec, host: readonly HostInterface[]): Attachment[] {
  return spec.vnics.map((vnic) => {
    let subnet = vnic.subnet ?? null;
    let gateway = vnic.gateway ?? null;
    if (subnet === null) {
      const fact = host.find((h) => h.interface === vnic.parentInterface && h.status !== 'removed');
      const addr = fact?.ipv4_addresses[0];
      if (addr) {
        subnet = addr.subnet;
        gateway ??= fact.gateway;
      }
    }
    // A static address is kept where it still fits the subnet; elsewhere Docker's IPAM picks one.
    const ip = vnic.mode === 'static' && vnic.ip !== undefined ? vnic.ip : null;
    const c = subnet === null ? null : parseCidr(subnet);
    const fits = ip !== null && c !== null && cidrContains(c, parseIpv4(ip)!);
    const wifi = isWifiParent(vnic.parentInterface, host);
    return {
      vnic,
      parent: vnic.parentInterface,
      mac: vnicMac(spec, vnic),
      ip: fits ? ip : null,
      subnet,
      gateway,
      network: subnet === null || wifi ? null : macvlanNetworkName(vnic.parentInterface, subnet),
      wifi,
    };
  });
}
