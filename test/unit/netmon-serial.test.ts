// Serial discovery without udev (CONTRACT §9.4): glob matching, dev_t arithmetic, by-id links, sysfs
// USB facts, the diff that becomes device_change, and the inotify watcher. Stand-in devices are
// symlinks to /dev/null and /dev/zero (character devices 1:3 and 1:5), so no root is needed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { devicesCgroupDir } from '../../src/netmon/device-node.js';
import type { SerialDevice } from '../../src/netmon/iface.js';
import { serialDeviceSchema } from '../../src/netmon/protocol.js';
import { byIdLinks, DEFAULT_SERIAL_GLOBS, devNumbers, diffSerial, globToRegExp, parseSerialGlobs, scanSerial, SerialWatcher, usbFacts, type SerialChange } from '../../src/netmon/serial.js';
import { sidecarConfig } from '../../src/netmon/sidecar.js';
import { waitFor } from '../support/wait.js';

/** glibc's makedev, for the expected values. */
const makedev = (major: bigint, minor: bigint) => (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);

describe('serial discovery: pure parts', () => {
  test('globToRegExp: * any run, ? one character, everything else literal', () => {
    const yes: [string, string][] = [['ttyUSB*', 'ttyUSB0'], ['ttyUSB*', 'ttyUSB12'], ['ttyUSB*', 'ttyUSB'], ['tty?', 'ttyA'], ['*', 'x'], ['a.b*', 'a.b1'], ['tty(1)+*', 'tty(1)+x'], ['t*y*', 'ttyS4']];
    const no: [string, string][] = [['ttyUSB*', 'ttyACM0'], ['ttyUSB*', 'xttyUSB0'], ['tty?', 'tty'], ['tty?', 'ttyAB'], ['a.b*', 'axb1'], ['tty(1)+*', 'tty11'], ['ttyS*', 'ttys0']];
    for (const [g, n] of yes) assert.ok(globToRegExp(g).test(n), `${g} ~ ${n}`);
    for (const [g, n] of no) assert.ok(!globToRegExp(g).test(n), `${g} !~ ${n}`);
  });

  test('devNumbers: Linux dev_t encoding, small and large numbers, bigint and number', () => {
    for (const [major, minor] of [[188, 0], [166, 3], [4, 64], [4, 255], [1, 3], [0, 0], [511, 1048575], [4095, 256], [4096, 0], [0x12345, 0x678901], [0xffffffff, 0xffffffff]] as const) {
      const dev = makedev(BigInt(major), BigInt(minor));
      assert.deepEqual(devNumbers(dev), { major, minor }, `${major}:${minor}`);
      if (dev <= BigInt(Number.MAX_SAFE_INTEGER)) assert.deepEqual(devNumbers(Number(dev)), { major, minor }, `${major}:${minor} as a number`);
    }
    assert.equal(makedev(188n, 0n), 48128n); // what `stat -c %d` would not show, but ls -l shows as 188, 0
    assert.deepEqual(devNumbers(fs.statSync('/dev/null').rdev), { major: 1, minor: 3 });
    assert.deepEqual(devNumbers(fs.statSync('/dev/null', { bigint: true }).rdev), { major: 1, minor: 3 });
  });

  test('parseSerialGlobs: absolute paths, wildcards only in the file name', () => {
    assert.deepEqual(parseSerialGlobs('/dev/ttyUSB*, /dev/ttyS*,,/tmp/x/tty?'), [{ pattern: '/dev/ttyUSB*' }, { pattern: '/dev/ttyS*' }, { pattern: '/tmp/x/tty?' }]);
    assert.deepEqual(parseSerialGlobs('/dev//ttyAMA0'), [{ pattern: '/dev/ttyAMA0' }]);
    for (const [v, why] of [[' , ', /comma-separated/], ['ttyUSB*', /not an absolute path/], ['/dev/*/tty0', /file name only/], ['/dev/tty[0-9]', /only \* and \?/], ['/dev/tty{A,B}', /only/], ['/dev/', /names no file/], ['/', /names no file/]] as const) {
      const got = parseSerialGlobs(v);
      assert.equal(typeof got, 'string', v);
      assert.match(got as string, why, v);
    }
    assert.deepEqual(DEFAULT_SERIAL_GLOBS.map((g) => g.minMinor ?? 0), [0, 0, 64], 'the minor filter is on the default ttyS* only');
  });

  const dev = (p: string, o: Partial<SerialDevice> = {}): SerialDevice => ({
    path: p, by_id: null, major: 188, minor: 0, vendor_id: null, product_id: null, serial: null, subsystem: 'tty', manufacturer: null, product: null, ...o,
  });

  test('diffSerial: by path; a new device number is remove + add, new facts alone one add', () => {
    const a = dev('/dev/ttyUSB0');
    const b = dev('/dev/ttyUSB1', { minor: 1 });
    assert.deepEqual(diffSerial([], []), []);
    assert.deepEqual(diffSerial([a], [a]), []);
    assert.deepEqual(diffSerial([], [a, b]), [{ action: 'add', device: a }, { action: 'add', device: b }]);
    assert.deepEqual(diffSerial([a, b], [b]), [{ action: 'remove', device: a }]);
    const a2 = { ...a, by_id: '/dev/serial/by-id/usb-FTDI_X-if00-port0' };
    assert.deepEqual(diffSerial([a], [a2]), [{ action: 'add', device: a2 }]);
    const a3 = { ...a, minor: 7 };
    assert.deepEqual(diffSerial([a, b], [a3, b]), [{ action: 'remove', device: a }, { action: 'add', device: a3 }]);
  });
});

describe('serial discovery on a directory tree', () => {
  let dir: string;
  const devDir = () => path.join(dir, 'dev');
  const byId = () => path.join(dir, 'by-id');
  const sys = () => path.join(dir, 'sys');

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-serial-'));
    fs.mkdirSync(devDir());
    fs.mkdirSync(byId());
    fs.symlinkSync('/dev/null', path.join(devDir(), 'ttyUSB0')); // 1:3
    fs.symlinkSync('/dev/zero', path.join(devDir(), 'ttyACM0')); // 1:5
    fs.writeFileSync(path.join(devDir(), 'ttyUSB9'), 'a regular file');
    fs.mkdirSync(path.join(devDir(), 'ttyUSB8'));
    fs.symlinkSync(path.join(dir, 'nothing'), path.join(devDir(), 'ttyUSB7')); // dangling
    fs.symlinkSync('/dev/null', path.join(devDir(), 'console'));
    // Two links to ttyUSB0: the first by name wins; a dangling link is ignored.
    fs.symlinkSync('../dev/ttyUSB0', path.join(byId(), 'usb-FTDI_FT232R_A1-if00-port0'));
    fs.symlinkSync('../dev/ttyUSB0', path.join(byId(), 'usb-zz-other'));
    fs.symlinkSync('../dev/ttyUSB5', path.join(byId(), 'usb-gone'));
    // sysfs: 1:3 is a USB serial adapter (idVendor three levels above the tty), 1:5 a non-USB tty.
    const usb = path.join(sys(), 'devices', 'pci0000:00', 'usb1', '1-1');
    const tty = path.join(usb, '1-1:1.0', 'ttyUSB0', 'tty', 'ttyUSB0');
    fs.mkdirSync(tty, { recursive: true });
    for (const [f, v] of Object.entries({ idVendor: '0403\n', idProduct: '6001\n', serial: 'A1\n', manufacturer: 'FTDI\n', product: 'FT232R USB UART\n' })) fs.writeFileSync(path.join(usb, f), v);
    const platform = path.join(sys(), 'devices', 'platform', 'serial8250', 'tty', 'ttyS4');
    fs.mkdirSync(platform, { recursive: true });
    fs.mkdirSync(path.join(sys(), 'dev', 'char'), { recursive: true });
    fs.symlinkSync(path.relative(path.join(sys(), 'dev', 'char'), tty), path.join(sys(), 'dev', 'char', '1:3'));
    fs.symlinkSync(path.relative(path.join(sys(), 'dev', 'char'), platform), path.join(sys(), 'dev', 'char', '1:5'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('byIdLinks: real path → link path; first by name; dangling and missing directories give nothing', async () => {
    const links = await byIdLinks(byId());
    assert.deepEqual([...links], [[fs.realpathSync('/dev/null'), path.join(byId(), 'usb-FTDI_FT232R_A1-if00-port0')]]);
    assert.deepEqual([...(await byIdLinks(path.join(dir, 'no-such-dir')))], []);
  });

  test('usbFacts: by device number, walking up to idVendor; null when not USB or unknown', async () => {
    assert.deepEqual(await usbFacts(1, 3, sys()), { vendor_id: '0403', product_id: '6001', serial: 'A1', manufacturer: 'FTDI', product: 'FT232R USB UART' });
    const none = { vendor_id: null, product_id: null, serial: null, manufacturer: null, product: null };
    assert.deepEqual(await usbFacts(1, 5, sys()), none);
    assert.deepEqual(await usbFacts(188, 0, sys()), none);
    assert.deepEqual(await usbFacts(1, 3, path.join(dir, 'no-sys')), none);
  });

  test('scanSerial: character devices the globs match, sorted, with by_id and USB facts; the minor filter', async () => {
    const globs = [{ pattern: path.join(devDir(), 'ttyUSB*') }, { pattern: path.join(devDir(), 'ttyACM?') }, { pattern: path.join(dir, 'missing', 'tty*') }];
    const got = await scanSerial({ globs, byIdDir: byId(), sysRoot: sys() });
    assert.deepEqual(got, [
      { path: path.join(devDir(), 'ttyACM0'), by_id: null, major: 1, minor: 5, vendor_id: null, product_id: null, serial: null, subsystem: 'tty', manufacturer: null, product: null },
      {
        path: path.join(devDir(), 'ttyUSB0'), by_id: path.join(byId(), 'usb-FTDI_FT232R_A1-if00-port0'), major: 1, minor: 3,
        vendor_id: '0403', product_id: '6001', serial: 'A1', subsystem: 'tty', manufacturer: 'FTDI', product: 'FT232R USB UART',
      },
    ]);
    for (const d of got) assert.ok(serialDeviceSchema.safeParse(d).success, d.path);
    // minMinor 4 drops 1:3 but keeps 1:5; another glob without a filter matching the same path keeps it.
    const filtered = await scanSerial({ globs: [{ pattern: path.join(devDir(), 'tty*'), minMinor: 4 }], byIdDir: byId(), sysRoot: sys() });
    assert.deepEqual(filtered.map((d) => path.basename(d.path)), ['ttyACM0']);
    const both = await scanSerial({ globs: [{ pattern: path.join(devDir(), 'tty*'), minMinor: 4 }, { pattern: path.join(devDir(), 'ttyUSB0') }], byIdDir: byId(), sysRoot: sys() });
    assert.deepEqual(both.map((d) => path.basename(d.path)), ['ttyACM0', 'ttyUSB0']);
  });

  test('SerialWatcher: plug, unplug and a by-id link made later are seen within 2 s, without udev', async () => {
    const hot = path.join(dir, 'hot');
    const hotById = path.join(dir, 'hot-by-id');
    fs.mkdirSync(hot);
    const changes: SerialChange[] = [];
    const warnings: unknown[] = [];
    const w = new SerialWatcher({ globs: [{ pattern: path.join(hot, 'ttyUSB*') }], byIdDir: hotById, sysRoot: sys() }, (c) => changes.push(...c), { warn: (o) => warnings.push(o) });
    await w.start();
    try {
      assert.deepEqual(w.list, []);
      let t = Date.now();
      fs.symlinkSync('/dev/null', path.join(hot, 'ttyUSB3'));
      fs.writeFileSync(path.join(hot, 'unrelated'), 'x'); // a name no glob matches: no extra scan needed
      await waitFor('add', () => changes.length === 1, 5000, 20);
      assert.ok(Date.now() - t < 2000, `${Date.now() - t} ms`);
      assert.deepEqual([changes[0]!.action, changes[0]!.device.path, changes[0]!.device.by_id], ['add', path.join(hot, 'ttyUSB3'), null]);
      // The by-id directory did not exist at start: the next rescan (the daemon's 30 s one) watches it.
      fs.mkdirSync(hotById);
      assert.deepEqual(await w.rescan(), []);
      t = Date.now();
      fs.symlinkSync('../hot/ttyUSB3', path.join(hotById, 'usb-Prolific-if00'));
      await waitFor('by_id', () => changes.length === 2, 5000, 20);
      assert.ok(Date.now() - t < 2000, `${Date.now() - t} ms`);
      assert.deepEqual([changes[1]!.action, changes[1]!.device.by_id], ['add', path.join(hotById, 'usb-Prolific-if00')]);
      t = Date.now();
      fs.rmSync(path.join(hot, 'ttyUSB3'));
      await waitFor('remove', () => changes.length === 3, 5000, 20);
      assert.ok(Date.now() - t < 2000, `${Date.now() - t} ms`);
      assert.deepEqual([changes[2]!.action, changes[2]!.device.path], ['remove', path.join(hot, 'ttyUSB3')]);
      assert.deepEqual(w.list, []);
      // The globbed directory replaced by a new one (often with the same inode): watched again, no
      // 30 s rescan needed.
      fs.rmSync(hot, { recursive: true });
      fs.mkdirSync(hot);
      await new Promise((r) => setTimeout(r, 500));
      t = Date.now();
      fs.symlinkSync('/dev/zero', path.join(hot, 'ttyUSB4'));
      await waitFor('add in the new directory', () => changes.length === 4, 5000, 20);
      assert.ok(Date.now() - t < 2000, `${Date.now() - t} ms`);
      assert.deepEqual([changes[3]!.action, changes[3]!.device.minor], ['add', 5]);
      assert.deepEqual(warnings, []);
    } finally {
      w.stop();
    }
  });
});

describe('sidecar configuration for serial and Wi-Fi', () => {
  test('defaults, values, and one line naming the variable when refused', () => {
    const d = sidecarConfig({ ORCH_DATA_DIR: '/d' });
    assert.deepEqual(d.serialGlobs, DEFAULT_SERIAL_GLOBS);
    assert.equal(d.serialByIdDir, '/dev/serial/by-id');
    assert.deepEqual(d.wifiInterfaces, []);
    const set = sidecarConfig({ ORCH_NETMON_SERIAL_GLOBS: '/tmp/t/ttyUSB*', ORCH_NETMON_SERIAL_BY_ID_DIR: '/tmp/t/by-id/', ORCH_NETMON_WIFI_INTERFACES: 'radio0, ath0' });
    assert.deepEqual(set.serialGlobs, [{ pattern: '/tmp/t/ttyUSB*' }]);
    assert.equal(set.serialByIdDir, '/tmp/t/by-id');
    assert.deepEqual(set.wifiInterfaces, ['radio0', 'ath0']);
    assert.deepEqual(sidecarConfig({ ORCH_NETMON_SERIAL_GLOBS: '', ORCH_NETMON_SERIAL_BY_ID_DIR: '', ORCH_NETMON_WIFI_INTERFACES: '' }).serialGlobs, DEFAULT_SERIAL_GLOBS, 'empty = unset');
    for (const [env, re] of [
      [{ ORCH_NETMON_SERIAL_GLOBS: 'ttyUSB*' }, /^invalid configuration: ORCH_NETMON_SERIAL_GLOBS: "ttyUSB\*" is not an absolute path$/],
      [{ ORCH_NETMON_SERIAL_GLOBS: '/dev/*/x' }, /^invalid configuration: ORCH_NETMON_SERIAL_GLOBS: .*file name only$/],
      [{ ORCH_NETMON_SERIAL_GLOBS: ',' }, /^invalid configuration: ORCH_NETMON_SERIAL_GLOBS: expected a comma-separated list/],
      [{ ORCH_NETMON_SERIAL_BY_ID_DIR: 'serial/by-id' }, /^invalid configuration: ORCH_NETMON_SERIAL_BY_ID_DIR: expected an absolute path, got "serial\/by-id"$/],
      [{ ORCH_NETMON_WIFI_INTERFACES: 'wlan0,bad name' }, /^invalid configuration: ORCH_NETMON_WIFI_INTERFACES: "bad name" is not an interface name/],
      [{ ORCH_NETMON_WIFI_INTERFACES: 'a-very-long-name0' }, /^invalid configuration: ORCH_NETMON_WIFI_INTERFACES: "a-very-long-name0"/],
    ] as const) {
      assert.throws(() => sidecarConfig(env), (e: Error) => re.test(e.message) && !e.message.includes('\n'), JSON.stringify(env));
    }
  });
});

test('devicesCgroupDir: the runtime cgroup through netmon own mount when it shows it, else through the host pid 1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-mountinfo-'));
  try {
    const file = path.join(dir, 'mountinfo');
    const info = (root: string, at = '/sys/fs/cgroup/devices') =>
      fs.writeFileSync(file, `25 30 0:22 / /proc rw - proc proc rw\n35 30 0:32 ${root} ${at} rw,relatime - cgroup cgroup rw,devices\n36 30 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n`);
    info('/'); // a process on the host
    assert.equal(devicesCgroupDir('/docker/abc', file), '/sys/fs/cgroup/devices/docker/abc');
    info('/docker/netmon1'); // netmon in a container: its mount shows its own cgroup only
    assert.equal(devicesCgroupDir('/docker/abc', file), '/proc/1/root/sys/fs/cgroup/devices/docker/abc');
    assert.equal(devicesCgroupDir('/docker/netmon1/sub', file), '/sys/fs/cgroup/devices/sub');
    info('/', '/sys/fs/cgroup/dev\\040ices'); // mountinfo escapes spaces
    assert.equal(devicesCgroupDir('/a', file), '/sys/fs/cgroup/dev ices/a');
    fs.writeFileSync(file, '35 30 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n'); // cgroup v2 only
    assert.equal(devicesCgroupDir('/a', file), '/proc/1/root/sys/fs/cgroup/devices/a');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
