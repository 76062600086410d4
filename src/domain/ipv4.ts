// IPv4 arithmetic for subnets given as CIDR or netmask (CONTRACT §5.1).
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255) || m.slice(1).some((p) => p.length > 1 && p.startsWith('0'))) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export const formatIpv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export const prefixMask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Prefix length of a contiguous netmask, or null. */
export function maskToPrefix(mask: string): number | null {
  const n = parseIpv4(mask);
  if (n === null) return null;
  for (let p = 0; p <= 32; p++) if (prefixMask(p) === n) return p;
  return null;
}

export interface Cidr {
  network: number;
  prefix: number;
}

/** Parses `a.b.c.d/nn`; the host bits are cleared. */
export function parseCidr(s: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return null;
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 32) return null;
  return { network: (ip & prefixMask(prefix)) >>> 0, prefix };
}

export const formatCidr = (c: Cidr) => `${formatIpv4(c.network)}/${c.prefix}`;

export const cidrContains = (c: Cidr, ip: number) => ((ip & prefixMask(c.prefix)) >>> 0) === c.network;
