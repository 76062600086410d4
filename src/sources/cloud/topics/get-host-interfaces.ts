// get_host_interfaces (CONTRACT §5.7): the host NICs from netmon's facts, sorted by name.
import * as z from 'zod';
import { baseFields, parsePayload, validationError } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object({ ...baseFields, include_virtual: z.boolean().optional(), detailed: z.boolean().optional() });
const VIRTUAL = ['lo', 'docker', 'br-', 'veth', 'virbr', 'macvtap', 'tailscale', 'wg', 'zt', 'cni', 'flannel', 'cilium', 'kube-ipvs', 'sit', 'can'];

export const getHostInterfaces: Topic = {
  name: 'get_host_interfaces',
  handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return Promise.resolve(p.ack);
    const { include_virtual = false, detailed = true } = p.value;
    const facts = ctx.store.state.host.interfaces.filter((i) => i.status !== 'removed');
    if (ctx.store.state.host.observedAt === null) {
      return Promise.resolve(validationError('(netmon): the network monitor has not reported any interface yet; is the autonomy_netmon sidecar running?'));
    }
    const interfaces = facts
      .filter((i) => include_virtual || !VIRTUAL.some((v) => i.interface.startsWith(v)))
      .map((i) => ({
        name: i.interface,
        ip_address: i.ipv4_addresses[0]?.address ?? null,
        ipv4_addresses: i.ipv4_addresses.map((a) => a.address),
        mac_address: i.mac_address,
        type: i.type,
        operstate: i.operstate,
        ...(detailed ? { subnet: i.ipv4_addresses[0]?.subnet ?? null, gateway: i.gateway } : {}),
        // CONTRACT §9.3: a NIC inside a runtime's namespace names it; an Ethernet NIC without IPv4 is a candidate.
        ...(i.dedicated_to !== undefined ? { dedicated_to: i.dedicated_to } : i.type === 'ethernet' && i.ipv4_addresses.length === 0 ? { dedicated_only: true } : {}),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return Promise.resolve({ status: 'success', interfaces });
  },
};
