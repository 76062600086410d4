// The netmon socket protocol (CONTRACT §6): newline-delimited JSON, events with `type`, command answers
// without `type` echoing `id`.
import { z } from 'zod';

export const IGNORED_PREFIXES = ['docker', 'br-', 'veth', 'virbr', 'macvtap', 'tailscale', 'wg', 'zt', 'cni', 'flannel', 'cilium'];
export const isIgnoredInterface = (name: string) => name === 'lo' || IGNORED_PREFIXES.some((p) => name.startsWith(p));

export const ifaceSchema = z.object({
  interface: z.string(),
  index: z.number().int(),
  operstate: z.string(),
  type: z.enum(['ethernet', 'wifi']),
  mac_address: z.string().nullable(),
  ipv4_addresses: z.array(z.object({ address: z.string(), prefixlen: z.number().int(), subnet: z.string(), network_address: z.string() })),
  gateway: z.string().nullable(),
  timestamp: z.string(),
  status: z.enum(['down', 'removed']).optional(),
});
export type Iface = z.infer<typeof ifaceSchema>;

// CONTRACT §6 sends network_change as the Iface itself, not wrapped, and both carry `type`: at the top
// level `type` is the event's, so the link kind travels as `interface_type` there (docs/network-monitor.md).
export const changeEventSchema = ifaceSchema.omit({ type: true }).extend({ type: z.literal('network_change'), interface_type: z.enum(['ethernet', 'wifi']) });

export const netmonEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('network_discovery'), interfaces: z.array(ifaceSchema), timestamp: z.string() }),
  changeEventSchema,
]);

export const changeEvent = (i: Iface) => {
  const { type, ...rest } = i;
  return { type: 'network_change' as const, interface_type: type, ...rest };
};
export const ifaceOfChange = (e: z.infer<typeof changeEventSchema>): Iface => {
  const { type: _t, interface_type, ...rest } = e;
  return { ...rest, type: interface_type };
};
export type NetmonEvent = z.infer<typeof netmonEventSchema>;

export const commandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('ping'), id: z.unknown().optional() }),
  z.object({ command: z.literal('get_status'), id: z.unknown().optional() }),
  z.object({
    command: z.literal('set_mac'),
    id: z.unknown().optional(),
    pid: z.number().int().positive(),
    ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
    mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
  }),
  z.object({ command: z.literal('get_macs'), id: z.unknown().optional(), pid: z.number().int().positive() }),
]);
export type NetmonCommand = z.infer<typeof commandSchema>;
