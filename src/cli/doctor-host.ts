// doctor's "macvlan" and "vnic parents" lines: what a runtime's MACVLAN networks need from the host. The
// kernel's macvlan driver (loaded, or built in), and every vNIC's parent interface among the interfaces
// netmon last reported (the agent, in its container, sees the host's interfaces only through netmon).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { State } from '../store/schema.js';
import { check, type Check } from './doctor-check.js';

/** Where the kernel's facts are read; tests point these at a directory of their own. */
export interface KernelFiles {
  procModules: string;
  procConfigGz: string;
  modulesBuiltin: string;
}
export const HOST_KERNEL: KernelFiles = {
  procModules: '/proc/modules',
  procConfigGz: '/proc/config.gz',
  modulesBuiltin: path.join('/lib/modules', os.release(), 'modules.builtin'),
};

const read = (file: string, gz = false): string | null => {
  try {
    const b = fs.readFileSync(file);
    return gz ? zlib.gunzipSync(b).toString('utf8') : b.toString('utf8');
  } catch {
    return null;
  }
};

export function macvlanCheck(k: KernelFiles = HOST_KERNEL): Check {
  if (/^macvlan /m.test(read(k.procModules) ?? '')) return check('OK', 'macvlan', `the macvlan module is loaded (${k.procModules})`);
  // The kernel's own configuration, when it exposes it: y built in, m a module, neither: no driver at all.
  const kconfig = read(k.procConfigGz, true);
  const config = kconfig === null ? undefined : (/^CONFIG_MACVLAN=([ym])$/m.exec(kconfig)?.[1] ?? 'n');
  if (config === 'y' || /(^|\/)macvlan\.ko$/m.test(read(k.modulesBuiltin) ?? '')) return check('OK', 'macvlan', 'built into the kernel');
  const load = 'load it: modprobe macvlan (at every boot: echo macvlan > /etc/modules-load.d/macvlan.conf); without it no runtime network can be created';
  if (config === 'm') return check('WARN', 'macvlan', 'the macvlan module is not loaded (CONFIG_MACVLAN=m)', load);
  if (config !== undefined) return check('FAIL', 'macvlan', 'this kernel has no macvlan driver (CONFIG_MACVLAN is not set)', 'runtimes need MACVLAN networks: use a kernel built with CONFIG_MACVLAN');
  return check('WARN', 'macvlan', `not loaded, and whether the kernel has it is unknown (no ${k.procConfigGz}, no ${k.modulesBuiltin})`, load);
}

/** Each declared runtime's vNIC parents against the host's interfaces as netmon last reported them. */
export function vnicParentsCheck(state: State | null): Check {
  if (state === null) return check('WARN', 'vnic parents', 'unknown (no readable state file)', 'see "state file"');
  const wanted = new Map<string, string[]>(); // parent → the runtimes using it
  for (const [name, rec] of Object.entries(state.runtimes)) {
    for (const v of rec.spec.vnics) wanted.set(v.parentInterface, [...(wanted.get(v.parentInterface) ?? []), name]);
  }
  if (Object.keys(state.runtimes).length === 0) return check('OK', 'vnic parents', 'no runtime declared');
  if (wanted.size === 0) return check('OK', 'vnic parents', 'no runtime declares a vNIC');
  if (state.host.observedAt === null) return check('WARN', 'vnic parents', `${[...wanted.keys()].join(', ')}: not checked (netmon has not reported the host's interfaces yet)`, 'start netmon (docker start autonomy_netmon) and the agent');
  const byName = new Map(state.host.interfaces.map((i) => [i.interface, i]));
  const missing: string[] = [];
  const down: string[] = [];
  for (const [parent, users] of wanted) {
    const i = byName.get(parent);
    const who = `${parent} (${users.join(', ')})`;
    if (!i || i.status === 'removed') missing.push(who);
    else if (i.status === 'down' || i.operstate !== 'up') down.push(who);
  }
  const seen = `as netmon reported them ${state.host.observedAt}${state.host.stale ? ', stale' : ''}`;
  if (missing.length > 0) return check('FAIL', 'vnic parents', `not on the host: ${missing.join(', ')} (${seen})`, 'these runtimes cannot get their networks: re-declare them with an existing parent_interface (ip link shows the host\'s names), or plug the interface back in');
  if (down.length > 0) return check('WARN', 'vnic parents', `down: ${down.join(', ')} (${seen})`, 'check the cable or link of these interfaces: the runtimes on them are unreachable from the LAN');
  return check('OK', 'vnic parents', `${[...wanted.keys()].join(', ')} present and up (${seen})`);
}
