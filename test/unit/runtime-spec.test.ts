import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REQUEST_NAME_RE } from '../../src/domain/names.js';
import { deriveMac, normalizeCreateRequest, runtimeSpecSchema } from '../../src/domain/runtime-spec.js';
import { specHash } from '../../src/domain/spec-hash.js';

const head = {
  correlation_id: 1,
  container_name: 'plc-1',
  runtime_version: 'latest',
  vnic_configs: [
    { name: 'eth0', parent_interface: 'enp3s0', network_mode: 'static', ip: '192.168.1.100', subnet: '255.255.255.0', gateway: '192.168.1.1', dns: ['192.168.1.1'] },
  ],
};

test('HEAD dialect: netmask + gateway give the network', () => {
  const r = normalizeCreateRequest(head);
  assert.ok(r.ok);
  assert.deepEqual(r.spec.vnics[0], {
    name: 'eth0', parentInterface: 'enp3s0', mode: 'static', ip: '192.168.1.100', subnet: '192.168.1.0/24', gateway: '192.168.1.1', dns: ['192.168.1.1'],
  });
});

test('v1 dialect normalizes to the same spec', () => {
  const r = normalizeCreateRequest({
    correlation_id: 1,
    container_name: 'plc-1',
    vnic_configs: [{ name: 'eth0', parent_interface: 'enp3s0', network_mode: 'manual', ip_address: '192.168.1.100/24', parent_subnet: '192.168.1.0/24', parent_gateway: '192.168.1.1', dns: ['192.168.1.1'] }],
  });
  const h = normalizeCreateRequest(head);
  assert.ok(r.ok && h.ok);
  assert.deepEqual(r.spec, h.spec);
});

test('errors name the field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /^\(payload\): expected an object/],
    [[1], /^\(payload\)/],
    [{ ...head, container_name: '../x' }, /^container_name: /],
    [{ ...head, vnic_configs: [] }, /^vnic_configs: at least one/],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'static' }] }, /^vnic_configs\[0\]\.ip: required/],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'static', ip: '10.0.0.300' }] }, /^vnic_configs\[0\]\.ip: not an IPv4/],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'static', ip: '10.0.1.3', subnet: '10.0.0.0/24' }] }, /^vnic_configs\[0\]\.ip: 10\.0\.1\.3 is outside/],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp', mac: '01:00:00:00:00:01' }] }, /^vnic_configs\[0\]\.mac: not a unicast/],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp' }, { parent_interface: 'eth0', network_mode: 'dhcp' }] }, /^vnic_configs\[1\]\.parent_interface: /],
    [{ ...head, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp', dns: 'x' }] }, /^vnic_configs\[0\]\.dns: /],
    [{ ...head, serial_configs: {} }, /^serial_configs: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: 'dev/ttyS0' }] }, /^serial_configs\[0\]\.container_path: must be an absolute path under \/dev\//],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/dev/../etc/passwd' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/tmp/ttyS0' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/dev/.' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/dev//x' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/dev/a\nb' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'ttyUSB0', container_path: '/dev/' }] }, /^serial_configs\[0\]\.container_path: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: '', container_path: '/dev/ttyS0' }] }, /^serial_configs\[0\]\.device_id: /],
    [{ ...head, serial_configs: [{ device_id: 'x', container_path: '/dev/ttyS0' }] }, /^serial_configs\[0\]\.name: /],
    [{ ...head, serial_configs: [{ name: 's0', device_id: 'x', container_path: '/dev/ttyS0', baud_rate: -1 }] }, /^serial_configs\[0\]\.baud_rate: /],
    [
      { ...head, serial_configs: [{ name: 's0', device_id: 'a', container_path: '/dev/m0' }, { name: 's1', device_id: 'b', container_path: '/dev/m0' }] },
      /^serial_configs\[1\]\.container_path: \/dev\/m0 is used by serial_configs\[0\] too/,
    ],
    [{ ...head, dedicated_interface: 'en p4s0' }, /^dedicated_interface: /],
    [{ ...head, dedicated_interface: { name: 'enp4s0' } }, /^dedicated_interface: /],
    [{ ...head, dedicated_interface: head.vnic_configs[0]!.parent_interface }, /^dedicated_interface: .* is the parent of vnic_configs\[0\]/],
    [{ ...head, runtime_version: 'a b' }, /^runtime_version: /],
  ];
  for (const [payload, re] of cases) {
    const r = normalizeCreateRequest(payload);
    assert.equal(r.ok, false, JSON.stringify(payload));
    if (!r.ok) assert.match(r.error, re);
  }
});

test('container_name: one character is refused on requests, naming the field and the regex', () => {
  for (const name of ['a', '7']) {
    const r = normalizeCreateRequest({ ...head, container_name: name });
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.equal(r.error, `container_name: must match ${REQUEST_NAME_RE.source} (two characters or more)`);
  }
  const two = normalizeCreateRequest({ ...head, container_name: 'ab' });
  assert.ok(two.ok);
  assert.equal(two.spec.name, 'ab');
  const long = normalizeCreateRequest({ ...head, container_name: `a${'b'.repeat(62)}` });
  assert.ok(long.ok, 'a 63-character name is the longest allowed');
  assert.equal(normalizeCreateRequest({ ...head, container_name: `a${'b'.repeat(63)}` }).ok, false);
  assert.equal(REQUEST_NAME_RE.source, '^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$', 'CONTRACT §4');
});

test('the state-file schema still accepts a one-character runtime name', () => {
  const r = normalizeCreateRequest(head);
  assert.ok(r.ok);
  assert.ok(runtimeSpecSchema.safeParse({ ...r.spec, name: 'a' }).success);
});

test('serial_configs and dedicated_interface: empty, null or absent mean none', () => {
  const plain = normalizeCreateRequest(head);
  assert.ok(plain.ok);
  const nones: Record<string, unknown>[] = [
    { serial_configs: [] },
    { serial_configs: null },
    { dedicated_interface: null },
    { dedicated_interface: '' },
    { serial_configs: [], dedicated_interface: '' },
    { serial_configs: null, dedicated_interface: null },
  ];
  for (const extra of nones) {
    const r = normalizeCreateRequest({ ...head, ...extra });
    assert.ok(r.ok, `${JSON.stringify(extra)}: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.spec, plain.spec, 'the same spec as without the field');
  }
});

test('serial_configs and dedicated_interface enter the spec when set', () => {
  const r = normalizeCreateRequest({
    ...head,
    serial_configs: [{ name: 'modbus_rtu', device_id: 'usb-FTDI_FT232R_A12345-if00-port0', container_path: '/dev/modbus0', baud_rate: 19200 }, { name: 's2', device_id: 'ttyACM0', container_path: '/dev/ttyS2', baud_rate: null }],
    dedicated_interface: 'enp4s0',
  });
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.spec.serialConfigs, [
    { name: 'modbus_rtu', deviceId: 'usb-FTDI_FT232R_A12345-if00-port0', containerPath: '/dev/modbus0', baudRate: 19200 },
    { name: 's2', deviceId: 'ttyACM0', containerPath: '/dev/ttyS2' },
  ]);
  assert.equal(r.spec.dedicatedInterface, 'enp4s0');
  assert.ok(runtimeSpecSchema.safeParse(r.spec).success);
});

test('derived MAC is stable, unicast and locally administered', () => {
  const a = deriveMac('plc-1', 'eth0');
  assert.equal(a, deriveMac('plc-1', 'eth0'));
  assert.notEqual(a, deriveMac('plc-2', 'eth0'));
  const first = parseInt(a.slice(0, 2), 16);
  assert.equal(first & 1, 0);
  assert.equal(first & 2, 2);
  assert.match(a, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
});

test('spec hash changes with the spec (the version tag included), not with a copy', () => {
  const r = normalizeCreateRequest(head);
  assert.ok(r.ok);
  const h1 = specHash(r.spec);
  assert.equal(h1, specHash(structuredClone(r.spec)));
  assert.notEqual(h1, specHash({ ...r.spec, runtimeVersion: 'v2' }));
  const changed = structuredClone(r.spec);
  changed.vnics[0]!.ip = '192.168.1.101';
  assert.notEqual(h1, specHash(changed));
});

test("issue #22: the agent's and netmon's container names are refused as runtime names", () => {
  for (const name of ['orchestrator_agent', 'autonomy_netmon', 'Orchestrator_Agent']) {
    const r = normalizeCreateRequest({ container_name: name, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp' }] });
    assert.ok(!r.ok);
    assert.match(r.error, new RegExp(`^container_name: ${name} is the (agent's own|netmon sidecar's) container`));
  }
});
