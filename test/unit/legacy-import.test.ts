// The Python agent's files become desired runtimes (adopted, not re-created), HEAD's serial ports and
// dedicated NICs included (upstream §13.20): the observed fields of its serial_configs.json are dropped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent.js';
import { loadConfig } from '../../src/config.js';
import { importLegacy } from '../../src/store/legacy-import.js';
import { Store } from '../../src/store/store.js';

test('HEAD files: vNICs, serial ports and a dedicated NIC are imported; a bad serial config is left out (named), its runtime still imported', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-legacy-'));
  try {
    fs.mkdirSync(path.join(dir, 'data'));
    const vnic = { name: 'eth0', parent_interface: 'enp3s0', network_mode: 'static', ip: '192.168.1.100', subnet: '255.255.255.0', gateway: '192.168.1.1', mac_address: '02:11:22:33:44:55', _interface_type: 'ethernet' };
    fs.writeFileSync(path.join(dir, 'runtime_vnics.json'), JSON.stringify({ 'plc-a': [vnic], 'plc-b': [{ ...vnic, ip: '192.168.1.101', mac_address: '02:11:22:33:44:56' }] }));
    fs.writeFileSync(path.join(dir, 'data', 'clients.json'), JSON.stringify({ 'plc-a': { ip: '172.18.0.2', name: 'plc-a' }, 'plc-b': { ip: '172.18.0.3', name: 'plc-b' } }));
    fs.writeFileSync(
      path.join(dir, 'data', 'serial_configs.json'),
      JSON.stringify({
        'plc-a': { serial_ports: [{ name: 'modbus_rtu', device_id: 'usb-FTDI_FT232R_A12345-if00-port0', container_path: '/dev/modbus0', status: 'connected', current_host_path: '/dev/ttyUSB0', major: 188, minor: 0 }] },
        'plc-b': { serial_ports: [{ name: 'bad', device_id: 'x', container_path: '/etc/passwd', status: 'disconnected' }] },
      }),
    );
    fs.writeFileSync(path.join(dir, 'dedicated_nics.json'), JSON.stringify({ 'plc-a': { host_interface: 'enp4s0' } }));
    const store = await Store.open(path.join(dir, 'state.json'));
    const report = await importLegacy(dir, store, pino({ level: 'silent' }));
    assert.deepEqual(report.imported, ['plc-a', 'plc-b']);
    assert.deepEqual(report.skipped, []);
    assert.equal(report.partial.length, 1);
    assert.match(report.partial[0]!.reason, /^serial_configs\[0\]\.container_path: must be an absolute path under \/dev\//);
    assert.equal(store.state.runtimes['plc-b']!.spec.serialConfigs, undefined);
    const a = store.state.runtimes['plc-a']!;
    assert.deepEqual(a.spec.serialConfigs, [{ name: 'modbus_rtu', deviceId: 'usb-FTDI_FT232R_A12345-if00-port0', containerPath: '/dev/modbus0' }]);
    assert.equal(a.spec.dedicatedInterface, 'enp4s0');
    assert.equal(a.adoption, 'pending');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a full data dir during the first-start import: the agent starts with the import in memory, the files stay; the next start with space imports and retires them', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-legacy-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'orch-legacy-full', dir]);
  // No engine: the import happens before the agent looks at Docker.
  const config = loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent.sock', ORCH_RESYNC_INTERVAL_MS: '3600000' });
  const log = pino({ level: 'silent' });
  try {
    const vnics = JSON.stringify({ 'plc-a': [{ name: 'eth0', parent_interface: 'enp3s0', network_mode: 'static', ip: '198.51.100.5', subnet: '255.255.255.0', mac_address: '02:11:22:33:44:55' }] });
    fs.writeFileSync(path.join(dir, 'runtime_vnics.json'), vnics);
    const filler = path.join(dir, 'filler');
    assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(512 * 1024)), /ENOSPC/);
    const full = new Agent(config, log);
    await full.start();
    try {
      assert.equal(full.store.state.runtimes['plc-a']?.adoption, 'pending', 'imported, in memory');
      assert.equal(full.store.unwritten, true);
    } finally {
      await full.stop();
    }
    assert.equal(fs.readFileSync(path.join(dir, 'runtime_vnics.json'), 'utf8'), vnics, 'not retired: the import is not on disk');
    fs.rmSync(filler);
    const agent = new Agent(config, log);
    await agent.start();
    await agent.stop();
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { runtimes: Record<string, unknown> };
    assert.deepEqual(Object.keys(onDisk.runtimes), ['plc-a']);
    const names = fs.readdirSync(dir);
    assert.ok(!names.includes('runtime_vnics.json'), names.join(' '));
    const retired = names.find((n) => /^runtime_vnics\.json\.imported-\d{4}-\d\d-\d\dT[\d-]+Z$/.test(n));
    assert.ok(retired, names.join(' '));
    assert.equal(fs.readFileSync(path.join(dir, retired), 'utf8'), vnics, 'kept as it was');
  } finally {
    execFileSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
