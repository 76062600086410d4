// The real netmon process with field hardware stand-ins (CONTRACT §9.3, §9.4), no Docker engine:
// serial devices are nodes made with mknod in a temp directory (no udev, no uevent: only inotify sees
// them), and the "dedicated NIC" is the host end of a veth pair whose peer sits in a test LAN
// namespace; the "runtime" is a sleep in a network namespace of its own (`unshare -n`). Nothing is
// sent off the machine (`ip route get` sends no packet).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { netmonEventSchema, type Iface } from '../../src/netmon/protocol.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';
import { waitFor } from '../support/wait.js';

const DEBOUNCE = 300;
const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const linkIn = (pid: number | null, name: string) => {
  const r = pid === null ? spawnSync('ip', ['-j', 'link', 'show', 'dev', name]) : spawnSync('nsenter', ['-t', String(pid), '-n', 'ip', '-j', 'link', 'show', 'dev', name]);
  return r.status === 0 ? (JSON.parse(r.stdout.toString()) as { ifname: string; operstate: string; flags: string[] }[])[0]! : null;
};

let dir: string;
let netmon: NetmonProcess;
const runtimes: ChildProcess[] = [];
const lans: Lan[] = [];

/** A process alone in a new network namespace, as a runtime container's. */
async function startRuntime(): Promise<number> {
  const child = spawn('unshare', ['-n', 'sleep', '1000'], { stdio: 'ignore' });
  runtimes.push(child);
  const self = fs.readlinkSync('/proc/self/ns/net');
  await waitFor('the runtime namespace', () => {
    const ns = fs.readlinkSync(`/proc/${child.pid}/ns/net`);
    return ns !== self && ns;
  }, 5000, 20);
  return child.pid!;
}

function killRuntime(pid: number): Promise<void> {
  const child = runtimes.find((c) => c.pid === pid)!;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

describe('netmon with serial devices and dedicated NICs', () => {
  const devDir = () => path.join(dir, 'dev');
  const byId = () => path.join(dir, 'by-id');
  const node = () => path.join(devDir(), 'ttyUSB0');
  const link = () => path.join(byId(), 'usb-FTDI_FT232R_USB_UART_A10K1ABC-if00-port0');

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-hw-'));
    fs.mkdirSync(devDir());
    fs.mkdirSync(byId());
    run('mknod', node(), 'c', '188', '0');
    run('mknod', path.join(devDir(), 'ttyACM0'), 'c', '166', '0'); // not in the glob
    fs.symlinkSync('../dev/ttyUSB0', link());
    netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), DEBOUNCE, { ORCH_NETMON_SERIAL_GLOBS: path.join(devDir(), 'ttyUSB*'), ORCH_NETMON_SERIAL_BY_ID_DIR: byId() });
    await netmon.start();
  });

  after(async () => {
    await netmon?.stop();
    for (const c of runtimes) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const l of lans) l.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('serial: device_discovery after network_discovery; unplug and plug within 2 s; serial_devices', async () => {
    const c = await NetmonClient.connect(netmon.socketPath);
    try {
      const d = await waitFor('device_discovery', () => c.events('device_discovery')[0]);
      assert.ok(c.lines.indexOf(c.events('network_discovery')[0]!) < c.lines.indexOf(d), 'network_discovery first');
      assert.ok(netmonEventSchema.safeParse(d.msg).success);
      assert.deepEqual(d.msg.devices, [
        { path: node(), by_id: link(), major: 188, minor: 0, vendor_id: null, product_id: null, serial: null, subsystem: 'tty', manufacturer: null, product: null },
      ]);

      let t = Date.now();
      fs.rmSync(node());
      const removed = await waitFor('device_change remove', () => c.events('device_change').find((e) => e.msg.action === 'remove'), 5000, 20);
      assert.ok(removed.at - t < 2000, `${removed.at - t} ms`);
      assert.ok(netmonEventSchema.safeParse(removed.msg).success);
      assert.equal((removed.msg.device as { path: string }).path, node());
      assert.deepEqual((await c.ask({ command: 'serial_devices', id: 1 })).devices, []);

      t = Date.now();
      run('mknod', node(), 'c', '188', '0');
      const added = await waitFor('device_change add', () => c.events('device_change').find((e) => e.msg.action === 'add'), 5000, 20);
      assert.ok(added.at - t < 2000, `${added.at - t} ms`);
      assert.deepEqual([(added.msg.device as { path: string }).path, (added.msg.device as { by_id: string }).by_id], [node(), link()]);

      // Another device number at the same path: the old device left, a new one came.
      fs.rmSync(node());
      run('mknod', node(), 'c', '188', '5');
      await waitFor('the new device', () => c.events('device_change').some((e) => e.msg.action === 'add' && (e.msg.device as { minor: number }).minor === 5), 5000, 20);
      const answer = await c.ask({ command: 'serial_devices', id: 2 });
      assert.equal(answer.success, true);
      assert.deepEqual((answer.devices as { path: string; major: number; minor: number }[]).map((x) => [x.path, x.major, x.minor]), [[node(), 188, 5]]);
      assert.equal(c.events('device_change').length, c.events('device_change').filter((e) => netmonEventSchema.safeParse(e.msg).success).length);
    } finally {
      c.close();
    }
  });

  test('serial_node / serial_node_remove: the node made in a runtime root from outside, never through a symlink; granted in its devices cgroup', async () => {
    // The "runtime": a sleep chrooted into a root with only busybox, in a devices cgroup of its own that
    // allows nothing but what netmon grants.
    const root = path.join(dir, 'rootfs');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(root, 'dev'));
    fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
    fs.symlinkSync('/', path.join(root, 'dev/evil')); // resolved through /proc/<pid>/root, this is netmon's (the host's) root
    fs.symlinkSync('/tmp/orch-serial-host-node', path.join(root, 'dev/planted'));
    const cg = `/sys/fs/cgroup/devices/orch-netmon-hw-${process.pid}`;
    const v1 = fs.existsSync('/sys/fs/cgroup/devices/devices.allow');
    if (v1) {
      fs.mkdirSync(cg);
      fs.writeFileSync(path.join(cg, 'devices.deny'), 'a');
      fs.writeFileSync(path.join(cg, 'devices.allow'), 'c 1:3 rwm'); // /dev/null for the shell's redirections
    }
    const child = spawn('sh', ['-c', `${v1 ? `echo $$ > ${cg}/cgroup.procs && ` : ''}exec chroot ${root} /bin/busybox sleep 1000`], { stdio: 'ignore' });
    runtimes.push(child);
    const pid = await waitFor('the chrooted runtime', () => fs.readlinkSync(`/proc/${child.pid}/root`) === root && child.pid!, 5000, 20);
    const c = await NetmonClient.connect(netmon.socketPath);
    try {
      const ask = (cmd: Record<string, unknown>) => c.ask({ id: 'sn', ...cmd });
      const inside = (p: string) => fs.lstatSync(path.join(root, p), { throwIfNoEntry: false });
      let a = await ask({ command: 'serial_node', pid, path: '/dev/serial/by-port/rtu0', major: 188, minor: 7, grant: v1 });
      assert.equal(a.success, true, JSON.stringify(a));
      const st = inside('/dev/serial/by-port/rtu0')!;
      assert.ok(st.isCharacterDevice());
      assert.deepEqual([Math.floor(st.rdev / 256), st.rdev % 256, st.mode & 0o777], [188, 7, 0o666]);
      // What a process of the runtime's cgroup may open: the granted 188:7 (ENXIO, no driver behind it).
      const open = (p: string) => spawnSync('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec chroot ${root} /bin/busybox cat ${p} 2>&1; true`], { encoding: 'utf8' }).stdout;
      if (v1) {
        assert.match(fs.readFileSync(path.join(cg, 'devices.list'), 'utf8'), /^c 188:7 rwm$/m);
        assert.match(open('/dev/serial/by-port/rtu0'), /No such device/);
      }
      // Made again over the old one (a re-plug as another minor), this time without a grant: not openable.
      assert.equal((await ask({ command: 'serial_node', pid, path: '/dev/serial/by-port/rtu0', major: 188, minor: 8, grant: false })).success, true);
      assert.equal(inside('/dev/serial/by-port/rtu0')!.rdev % 256, 8);
      if (v1) {
        assert.doesNotMatch(fs.readFileSync(path.join(cg, 'devices.list'), 'utf8'), /188:8/, 'grant: false writes nothing');
        assert.match(open('/dev/serial/by-port/rtu0'), /not permitted/);
      }
      // A symlink anywhere on the way is refused, and nothing appears on the host.
      a = await ask({ command: 'serial_node', pid, path: '/dev/evil/tmp/orch-serial-escape', major: 4, minor: 1, grant: false });
      assert.equal(a.success, false);
      assert.match(String(a.error), /\/dev\/evil in the runtime is not a directory \(a symlink is never followed\)/);
      assert.equal(fs.existsSync('/tmp/orch-serial-escape'), false);
      // A symlink at the node's own name is replaced, never followed.
      assert.equal((await ask({ command: 'serial_node', pid, path: '/dev/planted', major: 188, minor: 9, grant: false })).success, true);
      assert.ok(inside('/dev/planted')!.isCharacterDevice());
      assert.equal(fs.existsSync('/tmp/orch-serial-host-node'), false);
      // Removal: the node goes; a second removal and a missing directory are no error.
      assert.deepEqual([(await ask({ command: 'serial_node_remove', pid, path: '/dev/serial/by-port/rtu0' })).removed, inside('/dev/serial/by-port/rtu0')], [true, undefined]);
      assert.equal((await ask({ command: 'serial_node_remove', pid, path: '/dev/serial/by-port/rtu0' })).removed, false);
      assert.equal((await ask({ command: 'serial_node_remove', pid, path: '/dev/nothere/x' })).removed, false);
      assert.equal((await ask({ command: 'serial_node_remove', pid, path: '/dev/evil/tmp' })).success, false);
      // Refused before anything is done.
      a = await ask({ command: 'serial_node', pid, path: '/dev/../etc/x', major: 188, minor: 0, grant: false });
      assert.match(String(a.error), /^unknown command or bad arguments: path: /);
      a = await ask({ command: 'serial_node', pid: 999_999_999, path: '/dev/x', major: 188, minor: 0, grant: false });
      assert.match(String(a.error), /no process 999999999: the runtime is not running/);
    } finally {
      c.close();
      await killRuntime(child.pid!);
      if (v1) fs.rmdirSync(cg);
    }
  });

  test('route_get names the interface the host would use; default_route in the facts', async () => {
    const c = await NetmonClient.connect(netmon.socketPath);
    const lan = createLan('203.0.113.192/27');
    lans.push(lan);
    try {
      assert.deepEqual(await c.ask({ command: 'route_get', id: 1, address: '127.0.0.1' }), { id: 1, success: true, interface: 'lo', gateway: null });
      run('ip', 'addr', 'add', '203.0.113.193/27', 'dev', lan.parent);
      assert.deepEqual(await c.ask({ command: 'route_get', id: 2, address: '203.0.113.200' }), { id: 2, success: true, interface: lan.parent, gateway: null });
      const bad = await c.ask({ command: 'route_get', id: 3, address: '999.1.1.1' });
      assert.equal(bad.success, false);
      const ifaces = await waitFor('the LAN link in the facts', async () => {
        const all = (await c.ask({ command: 'get_status', id: `s${c.lines.length}` })).interfaces as Iface[];
        return all.some((i) => i.interface === lan.parent) ? all : null;
      });
      const defaults = (JSON.parse(run('ip', '-j', '-4', 'route', 'show', 'default')) as { dev?: string }[]).map((r) => r.dev);
      for (const i of ifaces) assert.equal(i.default_route === true, defaults.includes(i.interface), i.interface);
      assert.ok(!('default_route' in ifaces.find((i) => i.interface === lan.parent)!));
    } finally {
      c.close();
      lan.remove();
    }
  });

  test('nic_move / nic_return: into the runtime and back, facts with dedicated_to, idempotent, errors', async () => {
    const lan = createLan('198.51.100.224/27');
    lans.push(lan);
    const nic = lan.parent;
    const pid = await startRuntime();
    const c = await NetmonClient.connect(netmon.socketPath);
    try {
      await waitFor('the NIC in the facts', async () => ((await c.ask({ command: 'get_status', id: 's0' })).interfaces as Iface[]).some((i) => i.interface === nic));
      assert.deepEqual(await c.ask({ command: 'nic_move', id: 1, interface: 'nosuch0', pid, container_name: 'plc-nic' }), {
        id: 1, success: false, error: "interface nosuch0: not found on the host or in the runtime's namespace",
      });
      const hostNs = await c.ask({ command: 'nic_move', id: 2, interface: nic, pid: process.pid, container_name: 'plc-nic' });
      assert.match(String(hostNs.error), /in the host's network namespace/);
      assert.ok(linkIn(null, nic), 'a refused move leaves the NIC on the host');

      let n = c.lines.length;
      assert.deepEqual(await c.ask({ command: 'nic_move', id: 3, interface: nic, pid, container_name: 'plc-nic' }), { id: 3, success: true, moved: true });
      assert.equal(linkIn(null, nic), null, 'gone from the host');
      assert.ok(linkIn(pid, nic)?.flags.includes('UP'), 'up inside the runtime');
      const dedicated = await waitFor('network_change with dedicated_to', () => c.lines.slice(n).find((l) => l.msg.type === 'network_change' && l.msg.interface === nic && l.msg.dedicated_to === 'plc-nic'));
      assert.ok(netmonEventSchema.safeParse(dedicated.msg).success);
      assert.deepEqual([dedicated.msg.ipv4_addresses, dedicated.msg.gateway, dedicated.msg.status], [[], null, undefined]);
      assert.equal(dedicated.msg.operstate, linkIn(pid, nic)!.operstate.toLowerCase());
      const mine = () => c.ask({ command: 'get_status', id: `s${c.lines.length}` }).then((s) => (s.interfaces as Iface[]).find((i) => i.interface === nic));
      assert.equal((await mine())?.dedicated_to, 'plc-nic');
      // A fresh client's discovery lists it too.
      const c2 = await NetmonClient.connect(netmon.socketPath);
      const d = await waitFor('discovery', () => c2.events('network_discovery')[0]);
      assert.equal((d.msg.interfaces as Iface[]).find((i) => i.interface === nic)?.dedicated_to, 'plc-nic');
      c2.close();

      assert.deepEqual(await c.ask({ command: 'nic_move', id: 4, interface: nic, pid, container_name: 'plc-nic' }), { id: 4, success: true, moved: false });
      // Past the debounce and a few life checks: still dedicated, never reported removed.
      await new Promise((r) => setTimeout(r, DEBOUNCE + 2500));
      assert.ok(!c.lines.slice(n).some((l) => l.msg.interface === nic && l.msg.status === 'removed'), 'never reported removed while dedicated');
      assert.equal((await mine())?.dedicated_to, 'plc-nic');

      n = c.lines.length;
      assert.deepEqual(await c.ask({ command: 'nic_return', id: 5, interface: nic }), { id: 5, success: true, returned: true });
      assert.equal(linkIn(pid, nic), null);
      assert.ok(linkIn(null, nic)?.flags.includes('UP'), 'up on the host again');
      await waitFor('network_change without dedicated_to', () => c.lines.slice(n).find((l) => l.msg.type === 'network_change' && l.msg.interface === nic && !('dedicated_to' in l.msg) && l.msg.status !== 'removed'));
      assert.ok(!('dedicated_to' in ((await mine()) ?? {})));
      assert.deepEqual(await c.ask({ command: 'nic_return', id: 6, interface: nic }), { id: 6, success: true, returned: false });

      // The runtime dies with the NIC inside (a veth dies with its namespace; a physical NIC would come
      // back to the host): the record is dropped and the NIC leaves the facts within a few seconds.
      assert.deepEqual(await c.ask({ command: 'nic_move', id: 7, interface: nic, pid, container_name: 'plc-nic' }), { id: 7, success: true, moved: true });
      await waitFor('dedicated again', async () => (await mine())?.dedicated_to === 'plc-nic');
      n = c.lines.length;
      const t = Date.now();
      await killRuntime(pid);
      const gone = await waitFor('removed', () => c.lines.slice(n).find((l) => l.msg.type === 'network_change' && l.msg.interface === nic && l.msg.status === 'removed'), 10_000);
      assert.ok(gone.at - t < 2000 + DEBOUNCE + 1500, `${gone.at - t} ms`);
      assert.equal(await mine(), undefined);
      const after = await c.ask({ command: 'nic_return', id: 8, interface: nic });
      assert.equal(after.success, false);
      assert.match(String(after.error), /not on the host and not dedicated/);
    } finally {
      c.close();
      await killRuntime(pid);
    }
  });
});
