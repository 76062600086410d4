// Which address a vNIC on a Wi-Fi parent may have (issue #22): netmon turns it into a host /32 route and a
// proxy-ARP entry, so a lease from a rogue DHCP server (or a static address) for the gateway, the host's own
// address, the cloud's or a multicast one would steer the host's traffic. Only a unicast address inside one of
// the parent's subnets that is none of the gateway, the host's own, the network or the broadcast address.
// No zod: netmon imports it.
import { cidrContains, formatCidr, parseCidr, parseIpv4, prefixMask } from './ipv4.js';

export interface WifiParentFacts {
  ipv4_addresses: readonly { address: string; prefixlen: number }[];
  gateway: string | null;
}

/** Why `ip` cannot be a Wi-Fi vNIC's address on `parent`, or null. `gateway`: the lease's router or the vNIC's gateway. */
export function wifiAddressProblem(ip: string, parent: WifiParentFacts, gateway: string | null = null): string | null {
  const n = parseIpv4(ip);
  if (n === null) return `${ip.slice(0, 32)} is not an IPv4 address`;
  const first = n >>> 24;
  if (first === 0 || first === 127 || first >= 224) return `${ip} is not a unicast host address`;
  const subnets = parent.ipv4_addresses.map((a) => parseCidr(`${a.address}/${a.prefixlen}`)).filter((c) => c !== null);
  const own = subnets.find((c) => cidrContains(c, n));
  if (own === undefined) return `${ip} is outside the parent's subnets (${subnets.map(formatCidr).join(', ') || 'it has no IPv4 address'})`;
  if (parent.ipv4_addresses.some((a) => a.address === ip)) return `${ip} is the host's own address`;
  if (ip === parent.gateway || ip === gateway) return `${ip} is the gateway`;
  const broadcast = (own.network | (~prefixMask(own.prefix) >>> 0)) >>> 0;
  // /31 and /32 have neither (RFC 3021).
  if (own.prefix <= 30 && n === own.network) return `${ip} is the network address of ${formatCidr(own)}`;
  if (own.prefix <= 30 && n === broadcast) return `${ip} is the broadcast address of ${formatCidr(own)}`;
  return null;
}
