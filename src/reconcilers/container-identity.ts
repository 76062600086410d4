// What a running container already is on its LANs: the MAC and address of each MACVLAN endpoint. An
// adopted or recovered runtime keeps them (they become its spec's): a PLC that changed its MAC would be a
// new device to ARP caches, DHCP reservations and MAC-based firewall rules (CONTRACT §8).
import type Docker from 'dockerode';
import type { RuntimeSpec, VnicSpec } from '../domain/runtime-spec.js';

export interface MacvlanEndpoint {
  network: string;
  parent: string;
  subnet: string | null;
  gateway: string | null;
  mac: string | null;
  ip: string | null;
  /** True when the address was asked for (IPAMConfig), false when Docker's IPAM chose it. */
  staticIp: boolean;
  /** The address the interface holds instead of Docker's (a DHCP lease), read in the namespace. */
  leased?: string;
}

/**
 * The endpoints as the LAN knows them: each MAC (and a lease that replaced Docker's address) as the
 * endpoint's interface has it in the container's namespace, found by its parent (Docker's record keeps the
 * MAC it gave the endpoint, even where the MAC was set inside since). Unchanged without `ifaces`.
 */
export function withNamespace(endpoints: readonly MacvlanEndpoint[], ifaces: readonly { mac: string; ipv4: string[]; parent: string | null }[] | null): MacvlanEndpoint[] {
  return endpoints.map((e) => {
    const i = ifaces?.find((x) => x.parent === e.parent);
    if (!i) return e;
    const other = i.ipv4.find((a) => a !== e.ip);
    return { ...e, mac: i.mac.toLowerCase(), ...(!e.staticIp && other !== undefined && !i.ipv4.includes(e.ip ?? '') ? { leased: other } : {}) };
  });
}

/** The container's MACVLAN endpoints, each with its network's parent and subnet (one inspect per network). */
export async function macvlanEndpoints(docker: Docker, c: Docker.ContainerInspectInfo): Promise<MacvlanEndpoint[]> {
  const out: MacvlanEndpoint[] = [];
  for (const [network, ep] of Object.entries(c.NetworkSettings.Networks ?? {})) {
    let info: Docker.NetworkInspectInfo;
    try {
      info = (await docker.getNetwork(ep.NetworkID || network).inspect());
    } catch {
      continue;
    }
    if (info.Driver !== 'macvlan' || !info.Options?.parent) continue;
    const cfg = info.IPAM?.Config?.[0];
    out.push({
      network,
      parent: info.Options.parent,
      subnet: cfg?.Subnet ?? null,
      gateway: cfg?.Gateway ?? null,
      mac: ep.MacAddress ? ep.MacAddress.toLowerCase() : null,
      ip: ep.IPAddress || null,
      staticIp: Boolean((ep as { IPAMConfig?: { IPv4Address?: string } | null }).IPAMConfig?.IPv4Address),
    });
  }
  return out;
}

/** `spec` with each vNIC's MAC (and static address) set to what the container has on that parent now. */
export function keepIdentity(spec: RuntimeSpec, endpoints: readonly MacvlanEndpoint[]): RuntimeSpec {
  const vnics = spec.vnics.map((v): VnicSpec => {
    const ep = endpoints.find((e) => e.parent === v.parentInterface);
    if (!ep) return v;
    return { ...v, ...(ep.mac ? { mac: ep.mac } : {}), ...(v.mode === 'static' && ep.ip ? { ip: ep.ip } : {}) };
  });
  return { ...spec, vnics };
}

/** The image tag of a reference (`repo:tag` → tag; none → latest). */
export function tagOf(image: string): string {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(colon + 1) : 'latest';
}

/** A spec read back from a container that carries none (made by agent 0.1): its endpoints as they are. */
export function specFromEndpoints(name: string, image: string, dns: readonly string[], endpoints: readonly MacvlanEndpoint[]): RuntimeSpec | null {
  if (endpoints.length === 0) return null;
  return {
    name,
    runtimeVersion: tagOf(image),
    vnics: endpoints.map((e, i) => ({
      name: `eth${i}`,
      parentInterface: e.parent,
      mode: e.staticIp ? 'static' : 'dhcp',
      ...(e.staticIp && e.ip ? { ip: e.ip } : {}),
      ...(e.subnet ? { subnet: e.subnet } : {}),
      ...(e.gateway ? { gateway: e.gateway } : {}),
      dns: i === 0 ? [...dns] : [],
      ...(e.mac ? { mac: e.mac } : {}),
    })),
  };
}
