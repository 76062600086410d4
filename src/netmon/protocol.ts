// The netmon socket protocol (CONTRACT §6): newline-delimited JSON, events with `type`, command answers
// without `type` echoing `id`.
// The sidecar itself loads none of this (iface.ts and command.ts are its zod-free halves); the agent
// validates what netmon sends with these schemas.
import * as z from 'zod';
import type { Iface, SerialDevice } from './iface.js';
import type { NetmonCommand } from './command.js';
import { isDevicePath } from './device-node.js';

export { changeEvent, IGNORED_PREFIXES, isIgnoredInterface, type Iface, type SerialDevice } from './iface.js';
export { parseCommand, type NetmonCommand } from './command.js';

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
  default_route: z.boolean().optional(),
  dedicated_to: z.string().optional(),
});
// The hand-written Iface and the schema must describe the same object.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const ifaceMatches: Same<z.infer<typeof ifaceSchema>, Iface> = true;
void ifaceMatches;

export const changeEventSchema = ifaceSchema.omit({ type: true }).extend({ type: z.literal('network_change'), interface_type: z.enum(['ethernet', 'wifi']) });

/** A DHCP client's news (CONTRACT §9.1), flat like every netmon event. */
export const dhcpUpdateSchema = z.object({
  type: z.literal('dhcp_update'),
  container_name: z.string(),
  vnic_name: z.string(),
  mac_address: z.string(),
  ip: z.string().nullable(),
  prefix: z.number().int().min(0).max(32).nullable(),
  gateway: z.string().nullable(),
  dns: z.array(z.string()),
  lease_time: z.number().int().nullable(),
  event: z.enum(['bound', 'renew', 'lost', 'failed']),
  message: z.string().optional(),
  timestamp: z.string(),
  /** On a Wi-Fi parent: what netmon owns on the host after this event (proxy-ARP paths, sysctls). */
  host_changes: z.array(z.looseObject({ kind: z.string() })).optional(),
});
export type DhcpUpdateEvent = z.infer<typeof dhcpUpdateSchema>;

export const serialDeviceSchema = z.object({
  path: z.string(),
  by_id: z.string().nullable(),
  major: z.number().int().nonnegative(),
  minor: z.number().int().nonnegative(),
  vendor_id: z.string().nullable(),
  product_id: z.string().nullable(),
  serial: z.string().nullable(),
  subsystem: z.literal('tty'),
  manufacturer: z.string().nullable(),
  product: z.string().nullable(),
});
const serialMatches: Same<z.infer<typeof serialDeviceSchema>, SerialDevice> = true;
void serialMatches;

export const netmonEventSchema = z.discriminatedUnion('type', [
  /** `version`: netmon's own (since the self-update; an older netmon sends none). */
  z.object({ type: z.literal('network_discovery'), interfaces: z.array(ifaceSchema), timestamp: z.string(), version: z.string().max(128).optional() }),
  changeEventSchema,
  dhcpUpdateSchema,
  /** Every serial device: to each client right after it connects (CONTRACT §9.4). */
  z.object({ type: z.literal('device_discovery'), devices: z.array(serialDeviceSchema), timestamp: z.string() }),
  /** A device plugged in or out (hot-plug), to all clients. */
  z.object({ type: z.literal('device_change'), action: z.enum(['add', 'remove']), device: serialDeviceSchema, timestamp: z.string() }),
]);

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
    parent: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
    mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
  }),
  z.object({ command: z.literal('get_macs'), id: z.unknown().optional(), pid: z.number().int().positive() }),
  z.object({
    command: z.literal('dhcp_start'),
    id: z.unknown().optional(),
    pid: z.number().int().positive(),
    mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
    container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    vnic_name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    request_ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).optional(),
  }),
  z.object({ command: z.literal('dhcp_stop'), id: z.unknown().optional(), container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/), vnic_name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional() }),
  z.object({ command: z.literal('dhcp_status'), id: z.unknown().optional() }),
  z.object({
    command: z.literal('nic_move'),
    id: z.unknown().optional(),
    interface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
    pid: z.number().int().positive(),
    container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
  }),
  z.object({ command: z.literal('nic_return'), id: z.unknown().optional(), interface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/), pid: z.number().int().positive().optional() }),
  z.object({ command: z.literal('route_get'), id: z.unknown().optional(), address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/) }),
  z.object({ command: z.literal('serial_devices'), id: z.unknown().optional() }),
  z.object({ command: z.literal('engine_ulimits'), id: z.unknown().optional() }),
  z.object({ command: z.literal('statfs'), id: z.unknown().optional(), path: z.string().regex(/^\/[^\0\n]{0,4095}$/).refine((p) => !p.split('/').includes('..'), 'no ".." segment') }),
  z.object({
    command: z.literal('serial_node'),
    id: z.unknown().optional(),
    pid: z.number().int().positive(),
    path: z.string().refine(isDevicePath),
    major: z.number().int().min(0).max(0xfff),
    minor: z.number().int().min(0).max(0xfffff),
    grant: z.boolean(),
  }),
  z.object({ command: z.literal('serial_node_remove'), id: z.unknown().optional(), pid: z.number().int().positive(), path: z.string().refine(isDevicePath) }),
  z.object({
    command: z.literal('proxy_arp_setup'),
    id: z.unknown().optional(),
    container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    vnic_name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    pid: z.number().int().positive(),
    parent: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
    ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
    prefix: z.number().int().min(1).max(32),
    gateway: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).nullable(),
  }),
  z.object({
    command: z.literal('wifi_dhcp_start'),
    id: z.unknown().optional(),
    container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/),
    vnic_name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    pid: z.number().int().positive(),
    parent: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/),
    request_ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).optional(),
  }),
  z.object({ command: z.literal('proxy_arp_teardown'), id: z.unknown().optional(), container_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/), vnic_name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional() }),
  z.object({ command: z.literal('proxy_arp_status'), id: z.unknown().optional() }),
  z.object({ command: z.literal('proxy_arp_cleanup'), id: z.unknown().optional() }),
]);
const commandMatches: Same<z.infer<typeof commandSchema>, NetmonCommand> = true;
void commandMatches;
