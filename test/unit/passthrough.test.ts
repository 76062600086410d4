// Serial device matching and the dedicated-NIC rules (CONTRACT §9.3, §9.4), judged from facts alone: no
// real uplink is ever moved to test that it is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dedicationRefusal, parentDedicatedElsewhere, type DedicationInput } from '../../src/domain/dedicated-nic.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { deviceGrants, grantsOf, matchDevice } from '../../src/domain/serial-match.js';
import type { SerialDevice } from '../../src/netmon/iface.js';

const dev = (path: string, by_id: string | null, minor = 0): SerialDevice => ({
  path, by_id, major: 188, minor, vendor_id: null, product_id: null, serial: null, subsystem: 'tty', manufacturer: null, product: null,
});

test('a serial port matches by stable id first (equal, contained either way), then by the basename of the path', () => {
  const ftdi = dev('/dev/ttyUSB0', '/dev/serial/by-id/usb-FTDI_FT232R_A12345-if00-port0', 0);
  const other = dev('/dev/ttyUSB1', '/dev/serial/by-id/usb-Prolific_PL2303-if00-port0', 1);
  const bare = dev('/dev/ttyUSB10', null, 10);
  const all = [other, bare, ftdi];
  assert.equal(matchDevice({ deviceId: 'usb-FTDI_FT232R_A12345-if00-port0' }, all), ftdi);
  assert.equal(matchDevice({ deviceId: '/dev/serial/by-id/usb-FTDI_FT232R_A12345-if00-port0' }, all), ftdi);
  assert.equal(matchDevice({ deviceId: 'FT232R_A12345' }, all), ftdi, 'a part of the stable id');
  assert.equal(matchDevice({ deviceId: 'ttyUSB10' }, all), bare, 'ttyUSB10 is not taken for ttyUSB1');
  assert.equal(matchDevice({ deviceId: 'usb-Prolific_PL2303-if00-port0' }, all), other);
  assert.equal(matchDevice({ deviceId: 'usb-CH340-nowhere' }, all), null);
  assert.equal(matchDevice({ deviceId: 'ttyUSB0' }, []), null);
});

const spec = (name: string, parents: string[], dedicatedInterface?: string): RuntimeSpec => ({
  name,
  runtimeVersion: 'latest',
  vnics: parents.map((p, i) => ({ name: `eth${i}`, parentInterface: p, mode: 'dhcp' as const, dns: [] })),
  ...(dedicatedInterface !== undefined ? { dedicatedInterface } : {}),
});
const nic = (name: string, extra: Partial<DedicationInput['interfaces'] extends readonly (infer T)[] | null ? T : never> = {}) => ({ interface: name, type: 'ethernet' as const, gateway: null, ...extra });
const facts = [nic('enp1s0', { gateway: '192.0.2.1', default_route: true }), nic('enp2s0'), nic('enp3s0'), nic('enp4s0'), nic('wlan0', { type: 'wifi' }), nic('enp5s0', { dedicated_to: 'plc-9' }), nic('enp6s0')];

test('dedicated_interface: every refusal of CONTRACT §9.3 names the field; a free Ethernet NIC is accepted', () => {
  const others = [spec('plc-2', ['enp2s0']), spec('plc-3', ['enp3s0'], 'enp4s0')];
  const judge = (want: string, o: Partial<DedicationInput> = {}) => dedicationRefusal({ spec: spec('plc-1', ['enp2s0'], want), interfaces: facts, others, cloudInterface: null, ...o });
  assert.equal(judge('enp6s0'), null);
  assert.equal(dedicationRefusal({ spec: spec('plc-1', ['enp2s0']), interfaces: null, others, cloudInterface: null }), null, 'no dedicated NIC: nothing to judge');
  const refusals: [string, RegExp, Partial<DedicationInput>?][] = [
    ['enp9s0', /^dedicated_interface: enp9s0: netmon does not know this interface$/],
    ['wlan0', /^dedicated_interface: wlan0 is a Wi-Fi interface/],
    ['enp2s0', /^dedicated_interface: enp2s0 is the parent of a vNIC of plc-2$/],
    ['enp4s0', /^dedicated_interface: enp4s0 is already dedicated to plc-3$/],
    ['enp5s0', /^dedicated_interface: enp5s0 is already dedicated to plc-9$/],
    ['enp1s0', /^dedicated_interface: enp1s0 carries the host's default route/],
    ['enp6s0', /^dedicated_interface: enp6s0 carries the host's route to the cloud/, { cloudInterface: 'enp6s0' }],
    ['enp6s0', /^dedicated_interface: enp6s0: netmon has not reported/, { interfaces: null }],
    ['enp6s0', /^dedicated_interface: enp6s0 carries the host's default route/, { interfaces: [nic('enp6s0', { gateway: '198.51.100.1' })] }],
  ];
  for (const [want, re, o] of refusals) assert.match(judge(want, o) ?? 'accepted', re, want);
  // The runtime's own NIC, already moved into it, stays acceptable (the same request again is idempotent).
  assert.equal(dedicationRefusal({ spec: spec('plc-9', ['enp2s0'], 'enp5s0'), interfaces: facts, others, cloudInterface: null }), null);
});

test('status: a port is connected once its node is made in the running container, disconnected when unplugged, error when making it failed', async () => {
  const { passthroughStatus } = await import('../../src/reconcilers/passthrough-status.js');
  const { initialStatus } = await import('../../src/store/schema.js');
  const s: RuntimeSpec = { ...spec('plc-1', ['enp2s0'], 'tdn0'), serialConfigs: [{ name: 'rtu', deviceId: 'usb-FTDI_FT232R_A12345-if00-port0', containerPath: '/dev/modbus0' }] };
  const rec = { spec: s, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus() };
  const c = { id: 'cid', name: 'plc-1', image: 'i', state: 'running', status: '', labels: {}, networks: {} };
  const ftdi = dev('/dev/ttyUSB0', '/dev/serial/by-id/usb-FTDI_FT232R_A12345-if00-port0', 0);
  const ifaces = [{ interface: 'tdn0', operstate: 'up', type: 'ethernet' as const, mac_address: null, ipv4_addresses: [], gateway: null, dedicated_to: 'plc-1' }];
  const made = new Map([['cid//dev/modbus0', '188:0']]);
  const st = passthroughStatus(rec, c, { interfaces: ifaces, serialDevices: [ftdi] }, made, undefined);
  assert.deepEqual(st.serialPorts, [{ name: 'rtu', device_id: 'usb-FTDI_FT232R_A12345-if00-port0', container_path: '/dev/modbus0', status: 'connected', current_host_path: '/dev/ttyUSB0', major: 188, minor: 0, error: null }]);
  assert.deepEqual(st.dedicatedInterface, { name: 'tdn0', present: true });
  assert.equal(passthroughStatus(rec, c, { interfaces: [], serialDevices: [] }, made, undefined).serialPorts![0]!.status, 'disconnected', 'unplugged');
  assert.deepEqual(passthroughStatus(rec, c, { interfaces: [], serialDevices: [] }, made, undefined).dedicatedInterface, { name: 'tdn0', present: false });
  assert.equal(passthroughStatus(rec, c, { interfaces: ifaces, serialDevices: [ftdi] }, new Map(), undefined).serialPorts![0]!.status, 'disconnected', 'not made yet');
  const failure = { message: 'serial node /dev/modbus0 in plc-1: exit 1: mknod: Operation not permitted', kind: 'container' as const, reason: 'SerialNodeFailed', count: 1, until: 0 };
  const err = passthroughStatus(rec, c, { interfaces: ifaces, serialDevices: [ftdi] }, new Map(), failure).serialPorts![0]!;
  assert.deepEqual([err.status, err.error], ['error', failure.message]);
  assert.equal(passthroughStatus({ ...rec, spec: spec('p', ['enp2s0']) }, c, { interfaces: [], serialDevices: [] }, made, undefined).serialPorts, undefined, 'none configured: no serial_ports');
  const other = passthroughStatus(rec, c, { interfaces: ifaces, serialDevices: [ftdi], serialMajors: [166, 4] }, new Map(), undefined).serialPorts![0]!;
  assert.deepEqual([other.status, other.error], ['error', 'major 188 of /dev/ttyUSB0 is not in ORCH_SERIAL_MAJORS (166,4)'], 'a major never granted says so');
});

test('status: a NIC that could not be moved says why', async () => {
  const { passthroughStatus } = await import('../../src/reconcilers/passthrough-status.js');
  const { initialStatus } = await import('../../src/store/schema.js');
  const rec = { spec: spec('plc-1', ['enp2s0'], 'tdn0'), generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus() };
  const c = { id: 'cid', name: 'plc-1', image: 'i', state: 'running', status: '', labels: {}, networks: {} };
  const failure = { message: "dedicated NIC tdn0 not moved into plc-1: interface tdn0: not found on the host or in the runtime's namespace", kind: 'network' as const, reason: 'NicNotMoved', count: 1, until: 0 };
  assert.deepEqual(passthroughStatus(rec, c, { interfaces: [], serialDevices: [] }, new Map(), undefined, failure).dedicatedInterface, { name: 'tdn0', present: false, error: failure.message });
});

test('a vNIC may not use as parent a NIC another runtime has dedicated', () => {
  const others = [spec('plc-3', ['enp3s0'], 'enp4s0')];
  assert.equal(parentDedicatedElsewhere(spec('plc-1', ['enp2s0', 'enp4s0']), others), 'vnic_configs[1].parent_interface: enp4s0 is dedicated to plc-3');
  assert.equal(parentDedicatedElsewhere(spec('plc-1', ['enp2s0']), others), null);
});

test('deviceGrants: the devices the ports match now, of an allowed major, once each; nothing for an unplugged port', () => {
  const ftdi = dev('/dev/ttyUSB0', '/dev/serial/by-id/usb-FTDI_A-if00-port0', 0);
  const acm = { ...dev('/dev/ttyACM2', null, 2), major: 166 };
  const ports = [{ deviceId: 'usb-FTDI_A-if00-port0' }, { deviceId: 'ttyUSB0' }, { deviceId: 'ttyACM2' }, { deviceId: 'gone' }];
  assert.deepEqual(deviceGrants(ports, [ftdi, acm], [188, 166, 4]), ['188:0', '166:2']);
  assert.deepEqual(deviceGrants(ports, [ftdi, acm], [188]), ['188:0'], 'ORCH_SERIAL_MAJORS still bounds them');
  assert.deepEqual(deviceGrants(ports, [], [188]), []);
  assert.equal(grantsOf({}, 'g'), null, 'no label: made by an earlier agent (whole majors)');
  assert.deepEqual([...grantsOf({ g: '' }, 'g')!], []);
  assert.deepEqual([...grantsOf({ g: '188:0,166:2' }, 'g')!], ['188:0', '166:2']);
});
