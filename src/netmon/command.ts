// Commands to netmon (CONTRACT §6), checked by hand so that the sidecar needs no zod; the same rules as
// protocol.ts's commandSchema (a unit test holds the two together).
import { isDevicePath } from './device-node.js';

export type NetmonCommand =
  | { command: 'ping'; id?: unknown }
  | { command: 'get_status'; id?: unknown }
  // The MACVLAN endpoint's interface is the one on host interface `parent` (never found by an address).
  | { command: 'set_mac'; id?: unknown; pid: number; parent: string; mac: string }
  | { command: 'get_macs'; id?: unknown; pid: number }
  | { command: 'dhcp_start'; id?: unknown; pid: number; mac: string; container_name: string; vnic_name: string; request_ip?: string }
  | { command: 'dhcp_stop'; id?: unknown; container_name: string; vnic_name?: string }
  | { command: 'dhcp_status'; id?: unknown }
  // CONTRACT §9.3: a host NIC into a runtime's network namespace (pid: the runtime's), and back.
  | { command: 'nic_move'; id?: unknown; interface: string; pid: number; container_name: string }
  | { command: 'nic_return'; id?: unknown; interface: string; pid?: number }
  | { command: 'route_get'; id?: unknown; address: string }
  // CONTRACT §9.4: the serial devices netmon knows now.
  | { command: 'serial_devices'; id?: unknown }
  // CONTRACT §9.4: a device node made in (or removed from) a runtime from outside (device-node.ts);
  // `grant`: also let the runtime open it (cgroup v1: its devices.allow).
  | { command: 'serial_node'; id?: unknown; pid: number; path: string; major: number; minor: number; grant: boolean }
  | { command: 'serial_node_remove'; id?: unknown; pid: number; path: string }
  // CONTRACT §9.2: proxy-ARP paths for vNICs on Wi-Fi parents (proxy-arp.ts).
  | { command: 'proxy_arp_setup'; id?: unknown; container_name: string; vnic_name: string; pid: number; parent: string; ip: string; prefix: number; gateway: string | null }
  | { command: 'proxy_arp_teardown'; id?: unknown; container_name: string; vnic_name?: string }
  | { command: 'wifi_dhcp_start'; id?: unknown; container_name: string; vnic_name: string; pid: number; parent: string; request_ip?: string }
  | { command: 'proxy_arp_status'; id?: unknown }
  | { command: 'proxy_arp_cleanup'; id?: unknown }
  // Issue #23: free space of a host path (the Docker data root, which the agent's container cannot see).
  | { command: 'statfs'; id?: unknown; path: string }
  // Issue #24: the ulimits runc will give the next runtime, read from the engine's processes (the agent's
  // container cannot see them; netmon shares the host's pid namespace).
  | { command: 'engine_ulimits'; id?: unknown };

const IP = /^\d{1,3}(\.\d{1,3}){3}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const isPid = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const isName = (v: unknown): v is string => typeof v === 'string' && NAME.test(v);
// A vNIC name travels into file names, log lines and resolv.conf comments: no newline, no slash (issue #22).
const VNIC = /^[A-Za-z0-9_.-]{1,64}$/;
const isLabel = (v: unknown): v is string => typeof v === 'string' && VNIC.test(v);
const HOST_PATH = /^\/[^\0\n]{0,4095}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const isDevNumber = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0xfffff;
const isIfname = (v: unknown): v is string => typeof v === 'string' && IFNAME.test(v);

/** The runtime, vNIC, pid and Wi-Fi parent of a proxy-ARP command, or what is wrong. */
function runtimeVnic(o: Record<string, unknown>): { container_name: string; vnic_name: string; pid: number; parent: string } | string {
  if (!isName(o.container_name)) return 'container_name: not a container name';
  if (!isLabel(o.vnic_name)) return 'vnic_name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -';
  if (!isPid(o.pid)) return 'pid: expected a positive integer';
  if (!isIfname(o.parent)) return 'parent: expected 1 to 15 characters from A-Z a-z 0-9 _ . -';
  return { container_name: o.container_name, vnic_name: o.vnic_name, pid: o.pid, parent: o.parent };
}

/** The command, or why it is refused. */
export function parseCommand(json: unknown): { ok: true; command: NetmonCommand } | { ok: false; error: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: 'expected an object' };
  const o = json as Record<string, unknown>;
  const id = 'id' in o ? { id: o.id } : {}; // an absent id stays absent, as zod leaves it
  switch (o.command) {
    case 'ping':
    case 'get_status':
    case 'dhcp_status':
    case 'serial_devices':
    case 'engine_ulimits':
      return { ok: true, command: { command: o.command, ...id } };
    case 'dhcp_start':
      if (!isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      if (typeof o.mac !== 'string' || !MAC.test(o.mac)) return { ok: false, error: 'mac: expected six lower-case hex pairs separated by ":"' };
      if (!isName(o.container_name)) return { ok: false, error: 'container_name: not a container name' };
      if (!isLabel(o.vnic_name)) return { ok: false, error: 'vnic_name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -' };
      if (o.request_ip !== undefined && (typeof o.request_ip !== 'string' || !IP.test(o.request_ip))) return { ok: false, error: 'request_ip: expected a dotted IPv4 address' };
      return {
        ok: true,
        command: { command: 'dhcp_start', ...id, pid: o.pid, mac: o.mac, container_name: o.container_name, vnic_name: o.vnic_name, ...(o.request_ip !== undefined ? { request_ip: o.request_ip } : {}) },
      };
    case 'dhcp_stop':
      if (!isName(o.container_name)) return { ok: false, error: 'container_name: not a container name' };
      if (o.vnic_name !== undefined && !isLabel(o.vnic_name)) return { ok: false, error: 'vnic_name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -' };
      return { ok: true, command: { command: 'dhcp_stop', ...id, container_name: o.container_name, ...(o.vnic_name !== undefined ? { vnic_name: o.vnic_name } : {}) } };
    case 'get_macs':
      return isPid(o.pid) ? { ok: true, command: { command: 'get_macs', ...id, pid: o.pid } } : { ok: false, error: 'pid: expected a positive integer' };
    case 'set_mac':
      if (!isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      if (!isIfname(o.parent)) return { ok: false, error: 'parent: expected 1 to 15 characters from A-Z a-z 0-9 _ . -' };
      if (typeof o.mac !== 'string' || !MAC.test(o.mac)) return { ok: false, error: 'mac: expected six lower-case hex pairs separated by ":"' };
      return { ok: true, command: { command: 'set_mac', ...id, pid: o.pid, parent: o.parent, mac: o.mac } };
    case 'nic_move':
      if (!isIfname(o.interface)) return { ok: false, error: 'interface: expected 1 to 15 characters from A-Z a-z 0-9 _ . -' };
      if (!isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      if (!isName(o.container_name)) return { ok: false, error: 'container_name: not a container name' };
      return { ok: true, command: { command: 'nic_move', ...id, interface: o.interface, pid: o.pid, container_name: o.container_name } };
    case 'nic_return':
      if (!isIfname(o.interface)) return { ok: false, error: 'interface: expected 1 to 15 characters from A-Z a-z 0-9 _ . -' };
      if (o.pid !== undefined && !isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      return { ok: true, command: { command: 'nic_return', ...id, interface: o.interface, ...(o.pid !== undefined ? { pid: o.pid } : {}) } };
    case 'proxy_arp_status':
    case 'proxy_arp_cleanup':
      return { ok: true, command: { command: o.command, ...id } };
    case 'proxy_arp_setup': {
      const base = runtimeVnic(o);
      if (typeof base === 'string') return { ok: false, error: base };
      if (typeof o.ip !== 'string' || !IP.test(o.ip)) return { ok: false, error: 'ip: expected a dotted IPv4 address' };
      if (typeof o.prefix !== 'number' || !Number.isInteger(o.prefix) || o.prefix < 1 || o.prefix > 32) return { ok: false, error: 'prefix: expected an integer 1-32' };
      if (o.gateway !== null && (typeof o.gateway !== 'string' || !IP.test(o.gateway))) return { ok: false, error: 'gateway: expected a dotted IPv4 address or null' };
      return { ok: true, command: { command: 'proxy_arp_setup', ...id, ...base, ip: o.ip, prefix: o.prefix, gateway: o.gateway } };
    }
    case 'wifi_dhcp_start': {
      const base = runtimeVnic(o);
      if (typeof base === 'string') return { ok: false, error: base };
      if (o.request_ip !== undefined && (typeof o.request_ip !== 'string' || !IP.test(o.request_ip))) return { ok: false, error: 'request_ip: expected a dotted IPv4 address' };
      return { ok: true, command: { command: 'wifi_dhcp_start', ...id, ...base, ...(o.request_ip !== undefined ? { request_ip: o.request_ip } : {}) } };
    }
    case 'proxy_arp_teardown':
      if (!isName(o.container_name)) return { ok: false, error: 'container_name: not a container name' };
      if (o.vnic_name !== undefined && !isLabel(o.vnic_name)) return { ok: false, error: 'vnic_name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -' };
      return { ok: true, command: { command: 'proxy_arp_teardown', ...id, container_name: o.container_name, ...(o.vnic_name !== undefined ? { vnic_name: o.vnic_name } : {}) } };
    case 'statfs':
      if (typeof o.path !== 'string' || !HOST_PATH.test(o.path) || o.path.split('/').includes('..')) return { ok: false, error: 'path: expected an absolute path without ".." (at most 4096 characters)' };
      return { ok: true, command: { command: 'statfs', ...id, path: o.path } };
    case 'serial_node':
    case 'serial_node_remove':
      if (!isPid(o.pid)) return { ok: false, error: 'pid: expected a positive integer' };
      if (!isDevicePath(o.path)) return { ok: false, error: 'path: expected an absolute path under /dev/ without "." or ".." (letters, digits and _ . + : @ -)' };
      if (o.command === 'serial_node_remove') return { ok: true, command: { command: 'serial_node_remove', ...id, pid: o.pid, path: o.path } };
      if (!isDevNumber(o.major) || o.major > 0xfff) return { ok: false, error: 'major: expected an integer 0-4095' };
      if (!isDevNumber(o.minor)) return { ok: false, error: 'minor: expected an integer 0-1048575' };
      if (typeof o.grant !== 'boolean') return { ok: false, error: 'grant: expected a boolean' };
      return { ok: true, command: { command: 'serial_node', ...id, pid: o.pid, path: o.path, major: o.major, minor: o.minor, grant: o.grant } };
    case 'route_get':
      if (typeof o.address !== 'string' || !IP.test(o.address)) return { ok: false, error: 'address: expected a dotted IPv4 address' };
      return { ok: true, command: { command: 'route_get', ...id, address: o.address } };
    default:
      return { ok: false, error: typeof o.command === 'string' ? `command: unknown "${o.command.slice(0, 64)}"` : 'command: expected a string' };
  }
}
