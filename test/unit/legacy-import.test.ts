// The Python agent's files become desired runtimes (adopted, not re-created), HEAD's serial ports and
// dedicated NICs included (upstream §13.20): the observed fields of its serial_configs.json are dropped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
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
