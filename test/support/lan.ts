// "Physical" NICs for tests: a veth pair whose host end is a MACVLAN parent and whose peer sits in a
// LAN network namespace made by the test. Documentation ranges only; a subnet in use is refused.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { formatIpv4, parseCidr } from '../../src/domain/ipv4.js';

export interface Lan {
  parent: string; // host-side interface: the MACVLAN parent
  ns: string; // the LAN namespace
  subnet: string; // a.b.c.d/nn
  peerIp: string; // the LAN host's address inside ns
  /** Runs a command inside the LAN namespace and returns its stdout. */
  exec(cmd: string[], timeoutMs?: number): string;
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export function createLan(subnet: string): Lan {
  const c = parseCidr(subnet);
  if (!c || !/^(198\.51\.100|203\.0\.113)\./.test(subnet)) throw new Error(`test LANs use documentation ranges only, got ${subnet}`);
  if (ip('-4', '-o', 'addr').includes(` ${formatIpv4(c.network).split('.').slice(0, 3).join('.')}.`)) {
    throw new Error(`subnet ${subnet} is already used by an interface on this machine`);
  }
  const id = randomBytes(3).toString('hex');
  const parent = `ot${id}`;
  const peer = `op${id}`;
  const ns = `orch-lan-${id}`;
  const peerIp = formatIpv4(c.network + 2 ** (32 - c.prefix) - 2);
  const lan: Lan = {
    parent,
    ns,
    subnet,
    peerIp,
    exec: (cmd, timeoutMs = 20_000) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString(),
    remove: () => {
      spawnSync('ip', ['link', 'del', parent], { stdio: 'ignore' });
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    },
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', parent, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', ns);
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${peerIp}/${c.prefix}`, 'dev', peer);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    ip('link', 'set', parent, 'up');
  } catch (e) {
    lan.remove();
    throw e;
  }
  return lan;
}
