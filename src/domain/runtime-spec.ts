// The desired spec of one runtime, normalized from either request dialect (CONTRACT §5.1).
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { cidrContains, formatCidr, formatIpv4, maskToPrefix, parseCidr, parseIpv4, prefixMask } from './ipv4.js';
import { IFNAME_RE, NAME_RE, REQUEST_NAME_RE, reservedContainerName } from './names.js';
import { firstIssueMessage, quote } from './validation-error.js';
import { isIgnoredInterface } from '../netmon/iface.js';

export const vnicSpecSchema = z.object({
  name: z.string(),
  parentInterface: z.string(),
  mode: z.enum(['dhcp', 'static']),
  ip: z.string().optional(),
  subnet: z.string().optional(), // normalized CIDR `a.b.c.0/nn`; absent = from netmon's facts
  gateway: z.string().optional(),
  dns: z.array(z.string()),
  mac: z.string().optional(), // requested, lower case
});
export type VnicSpec = z.infer<typeof vnicSpecSchema>;

/** A serial port passed into the runtime (CONTRACT §9.4). */
export const serialConfigSchema = z.object({
  name: z.string(),
  deviceId: z.string(),
  containerPath: z.string(),
  baudRate: z.number().optional(),
});
export type SerialConfig = z.infer<typeof serialConfigSchema>;

export const runtimeSpecSchema = z.object({
  name: z.string().regex(NAME_RE),
  runtimeVersion: z.string(),
  vnics: z.array(vnicSpecSchema).min(1).max(8),
  // Added after the first release: present only when set (the spec hash counts them only then).
  serialConfigs: z.array(serialConfigSchema).min(1).optional(),
  dedicatedInterface: z.string().optional(),
});
export type RuntimeSpec = z.infer<typeof runtimeSpecSchema>;

const ipv4Str = z.string().refine((s) => parseIpv4(s) !== null, { message: 'not an IPv4 address' });
const ipv4OrCidr = z
  .string()
  .refine((s) => parseIpv4(s.replace(/\/(\d{1,2})$/, '')) !== null && (!s.includes('/') || parseCidr(s) !== null), {
    message: 'not an IPv4 address (a.b.c.d or a.b.c.d/nn)',
  });
const macStr = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { message: 'not a MAC address (xx:xx:xx:xx:xx:xx)' })
  .refine((s) => (parseInt(s.slice(0, 2), 16) & 1) === 0, { message: 'not a unicast MAC (multicast bit set)' });

/** Docker's, VPN and container-network links (CONTRACT §6's ignored names): never a runtime's LAN (issue #22). */
const notLanParent = 'a virtual interface netmon ignores (lo, docker*, br-*, veth*, virbr*, macvtap*, tailscale*, wg*, zt*, cni*, flannel*, cilium*), not a LAN interface';

const rawVnic = z.object({
  // Into netmon's commands, file names and resolv.conf comments: no newline or slash (issue #22).
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'expected 1 to 64 characters from A-Z a-z 0-9 _ . -' }).optional(),
  parent_interface: z.string().regex(IFNAME_RE, { message: 'not an interface name' }).refine((n) => !isIgnoredInterface(n), { message: notLanParent }),
  network_mode: z.enum(['dhcp', 'static', 'manual'], { message: 'expected "dhcp" or "static"' }),
  ip: ipv4OrCidr.optional(),
  ip_address: ipv4OrCidr.optional(),
  subnet: z.string().optional(),
  gateway: ipv4Str.optional(),
  parent_subnet: z.string().optional(),
  parent_gateway: ipv4Str.optional(),
  dns: z.array(ipv4Str).max(8).optional(),
  mac: macStr.optional(),
  mac_address: macStr.optional(),
});

/** `container_path`: an absolute path under /dev/ without `..` (CONTRACT §9.4). */
const containerPath = z
  .string()
  .max(255)
  .refine((p) => /^\/dev(\/[A-Za-z0-9_.+:@-]+)+$/.test(p) && !p.split('/').some((seg) => seg === '.' || seg === '..'), {
    message: 'must be an absolute path under /dev/ without ".." (letters, digits and _ . + : @ -)',
  });

const rawSerial = z.object({
  name: z.string().min(1, { message: 'must not be empty' }).max(64),
  device_id: z.string().min(1, { message: 'must not be empty' }).max(256),
  container_path: containerPath,
  baud_rate: z.number().int().positive().max(10_000_000).nullable().optional(),
});

export const createRuntimeFields = {
  // Checked on requests only: runtimeSpecSchema keeps NAME_RE so older state files still load.
  container_name: z.string().regex(REQUEST_NAME_RE, { message: `must match ${REQUEST_NAME_RE.source} (two characters or more)` }),
  vnic_configs: z.array(rawVnic).min(1, { message: 'at least one vNIC configuration is required' }).max(8, { message: 'at most 8 vNICs' }),
  runtime_version: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, { message: 'not an image tag' }).optional(),
  // HEAD sends these as optional fields: null, [] and '' mean none.
  serial_configs: z.array(rawSerial).max(16, { message: 'at most 16 serial ports' }).nullable().optional(),
  dedicated_interface: z.union([z.literal(''), z.string().regex(IFNAME_RE, { message: 'not an interface name' }).refine((n) => !isIgnoredInterface(n), { message: notLanParent })]).nullable().optional(),
};
const rawCreate = z.object(createRuntimeFields);

/** The field names a payload may carry, for the CLI's refusal of unknown keys (the cloud's are ignored, CONTRACT §4). */
export const CREATE_REQUEST_KEYS = {
  payload: Object.keys(createRuntimeFields),
  vnic: Object.keys(rawVnic.shape),
  serial: Object.keys(rawSerial.shape),
} as const;

export type NormalizeResult = { ok: true; spec: RuntimeSpec } | { ok: false; error: string };

/** Validates a `create_new_runtime` payload (HEAD or v1 field names) and returns the normalized spec. */
export function normalizeCreateRequest(payload: unknown): NormalizeResult {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, error: '(payload): expected an object' };
  }
  const parsed = rawCreate.safeParse(payload);
  if (!parsed.success) return { ok: false, error: firstIssueMessage(parsed.error) };
  const req = parsed.data;
  const reserved = reservedContainerName(req.container_name);
  if (reserved !== null) return { ok: false, error: `container_name: ${reserved} (CONTRACT §1), not a runtime's name` };
  const serial = req.serial_configs ?? [];
  for (const [i, sc] of serial.entries()) {
    const j = serial.findIndex((o) => o.container_path === sc.container_path);
    if (j < i) return { ok: false, error: `serial_configs[${i}].container_path: ${sc.container_path} is used by serial_configs[${j}] too` };
    const k = serial.findIndex((o) => o.name === sc.name);
    if (k < i) return { ok: false, error: `serial_configs[${i}].name: ${quote(sc.name)} is used by serial_configs[${k}] too` };
  }
  const dedicated = req.dedicated_interface || undefined;
  const vnics: VnicSpec[] = [];
  const parents = new Map<string, number>();
  for (const [i, v] of req.vnic_configs.entries()) {
    const at = `vnic_configs[${i}]`;
    const mode = v.network_mode === 'manual' ? 'static' : v.network_mode;
    const ipField = v.ip !== undefined ? 'ip' : 'ip_address';
    const ipRaw = v.ip ?? v.ip_address;
    const ip = ipRaw?.replace(/\/\d{1,2}$/, '');
    if (mode === 'static' && ip === undefined) return { ok: false, error: `${at}.ip: required when network_mode is "static"` };
    const subnetField = v.subnet !== undefined ? 'subnet' : 'parent_subnet';
    const gatewayField = v.subnet !== undefined || v.gateway !== undefined ? 'gateway' : 'parent_gateway';
    const subnetRaw = v.subnet ?? v.parent_subnet;
    const gateway = v.gateway ?? v.parent_gateway;
    let subnet: string | undefined;
    if (subnetRaw !== undefined) {
      const cidr = parseCidr(subnetRaw);
      const prefix = cidr ? null : maskToPrefix(subnetRaw);
      if (cidr) subnet = formatCidr(cidr);
      else if (prefix !== null) {
        const base = parseIpv4(gateway ?? ip ?? '');
        if (base === null) return { ok: false, error: `${at}.${subnetField}: a netmask needs a gateway or ip to name the network` };
        subnet = `${formatIpv4((base & prefixMask(prefix)) >>> 0)}/${prefix}`;
      } else return { ok: false, error: `${at}.${subnetField}: not a CIDR subnet or netmask, got ${quote(subnetRaw)}` };
      const c = parseCidr(subnet)!;
      if (ip !== undefined && !cidrContains(c, parseIpv4(ip)!)) {
        return { ok: false, error: `${at}.${ipField}: ${ip} is outside the subnet ${subnet}` };
      }
      if (gateway !== undefined && !cidrContains(c, parseIpv4(gateway)!)) {
        return { ok: false, error: `${at}.${gatewayField}: ${gateway} is outside the subnet ${subnet}` };
      }
    }
    // Docker allows one MACVLAN network per parent, and one endpoint per network and container.
    const prev = parents.get(v.parent_interface);
    if (prev !== undefined) {
      return { ok: false, error: `${at}.parent_interface: vnic_configs[${prev}] already uses ${v.parent_interface} (one vNIC per MACVLAN network)` };
    }
    if (v.parent_interface === dedicated) return { ok: false, error: `dedicated_interface: ${dedicated} is the parent of vnic_configs[${i}]; a dedicated NIC belongs to the runtime alone` };
    parents.set(v.parent_interface, i);
    const mac = (v.mac ?? v.mac_address)?.toLowerCase();
    if (mac !== undefined && vnics.some((o) => o.mac === mac)) {
      return { ok: false, error: `${at}.${v.mac !== undefined ? 'mac' : 'mac_address'}: MAC ${mac} is used twice` };
    }
    vnics.push({
      name: v.name ?? `eth${i}`,
      parentInterface: v.parent_interface,
      mode,
      ...(ip !== undefined && mode === 'static' ? { ip } : {}),
      ...(subnet !== undefined ? { subnet } : {}),
      ...(gateway !== undefined ? { gateway } : {}),
      dns: v.dns ?? [],
      ...(mac !== undefined ? { mac } : {}),
    });
  }
  const spec: RuntimeSpec = { name: req.container_name, runtimeVersion: req.runtime_version ?? 'latest', vnics };
  if (serial.length > 0) {
    spec.serialConfigs = serial.map((sc) => ({
      name: sc.name,
      deviceId: sc.device_id,
      containerPath: sc.container_path,
      ...(sc.baud_rate !== undefined && sc.baud_rate !== null ? { baudRate: sc.baud_rate } : {}),
    }));
  }
  if (dedicated !== undefined) spec.dedicatedInterface = dedicated;
  return { ok: true, spec };
}

/** Locally administered unicast MAC derived from runtime and vNIC names: the same after every re-creation. */
export function deriveMac(runtime: string, vnic: string): string {
  const h = createHash('sha256').update(`${runtime}\0${vnic}`).digest();
  const bytes = [((h[0]! & 0xfc) | 0x02) & 0xfe, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export const vnicMac = (spec: RuntimeSpec, v: VnicSpec) => v.mac ?? deriveMac(spec.name, v.name);

/** Merged DNS list of all vNICs, first occurrence kept. */
export const mergedDns = (spec: RuntimeSpec) => [...new Set(spec.vnics.flatMap((v) => v.dns))];

export const sameSpec = (a: RuntimeSpec, b: RuntimeSpec) => JSON.stringify(a) === JSON.stringify(b);
