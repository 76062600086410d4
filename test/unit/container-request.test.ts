import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request144, requestBelow144, type RuntimeContainerInput } from '../../src/docker/runtime-container-request.js';
import { attachmentsOf } from '../../src/domain/attachments.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { LABEL } from '../../src/domain/names.js';

const spec: RuntimeSpec = {
  name: 'plc',
  runtimeVersion: 'latest',
  vnics: [
    { name: 'eth0', parentInterface: 'lan0', mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/24', dns: ['198.51.100.1'], mac: '02:00:00:00:00:01' },
    { name: 'eth1', parentInterface: 'lan1', mode: 'dhcp', subnet: '203.0.113.0/24', dns: ['198.51.100.1', '203.0.113.1'] },
  ],
};
const input: RuntimeContainerInput = {
  name: 'plc', image: 'img:latest', spec, specHash: 'h', ulimitsLabel: null, attachments: attachmentsOf(spec, []), dns: ['198.51.100.1', '203.0.113.1'], ulimits: { rtprio: 99, memlock: -1 }, deviceGrants: ['188:0', '4:64'], log: null,
};

test('API < 1.44: created on the first MACVLAN with Config.MacAddress; the rest connected, internal last', () => {
  const r = requestBelow144(input);
  assert.equal(r.create.HostConfig?.NetworkMode, 'macvlan_lan0_198.51.100.0_24');
  assert.equal(r.create.MacAddress, '02:00:00:00:00:01');
  assert.deepEqual(Object.keys(r.create.NetworkingConfig!.EndpointsConfig!), ['macvlan_lan0_198.51.100.0_24']);
  assert.deepEqual(r.create.NetworkingConfig!.EndpointsConfig!['macvlan_lan0_198.51.100.0_24'], { IPAMConfig: { IPv4Address: '198.51.100.10' }, MacAddress: '02:00:00:00:00:01' });
  assert.deepEqual(r.connect.map((c) => c.network), ['macvlan_lan1_203.0.113.0_24', 'plc_internal']);
  assert.match(r.connect[0]!.endpoint.MacAddress!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(r.create.HostConfig?.RestartPolicy?.Name, 'no');
  assert.deepEqual(r.create.HostConfig?.CapAdd, ['SYS_NICE']);
  assert.deepEqual(r.create.HostConfig?.Ulimits, [{ Name: 'rtprio', Soft: 99, Hard: 99 }, { Name: 'memlock', Soft: -1, Hard: -1 }]);
  assert.deepEqual(r.create.HostConfig?.Dns, ['198.51.100.1', '203.0.113.1']);
  assert.deepEqual(r.create.HostConfig?.Mounts, [{ Type: 'volume', Source: 'plc_data', Target: '/var/run/runtime' }]);
});

test('API >= 1.44: every endpoint with its own MAC at create, nothing to connect', () => {
  const r = request144(input);
  assert.deepEqual(r.connect, []);
  assert.equal(r.create.MacAddress, undefined);
  assert.equal(r.create.HostConfig?.NetworkMode, 'plc_internal', 'the one network that never changes');
  const eps = r.create.NetworkingConfig!.EndpointsConfig!;
  assert.deepEqual(Object.keys(eps), ['macvlan_lan0_198.51.100.0_24', 'macvlan_lan1_203.0.113.0_24', 'plc_internal']);
  assert.equal(eps['macvlan_lan0_198.51.100.0_24']!.MacAddress, '02:00:00:00:00:01');
  assert.equal(eps['macvlan_lan1_203.0.113.0_24']!.MacAddress, input.attachments[1]!.mac);
  assert.equal(eps['macvlan_lan1_203.0.113.0_24']!.IPAMConfig, undefined);
});

test('no runtime may mknod; serial ports add a device cgroup rule per matched device (and a label naming them); a dedicated NIC adds NET_RAW and NET_ADMIN', () => {
  assert.equal(request144(input).create.HostConfig?.DeviceCgroupRules, undefined, 'none without serial ports');
  assert.equal(request144(input).create.Labels?.[LABEL.serialGrants], undefined);
  assert.deepEqual(request144(input).create.HostConfig?.CapDrop, ['MKNOD']);
  const serial = { ...input, spec: { ...spec, serialConfigs: [{ name: 's0', deviceId: 'ttyUSB0', containerPath: '/dev/modbus0' }] } };
  for (const r of [request144(serial), requestBelow144(serial)]) {
    assert.deepEqual(r.create.HostConfig?.CapAdd, ['SYS_NICE']);
    assert.deepEqual(r.create.HostConfig?.CapDrop, ['MKNOD']);
    assert.deepEqual(r.create.HostConfig?.DeviceCgroupRules, ['c 188:0 rwm', 'c 4:64 rwm']);
    assert.equal(r.create.Labels?.[LABEL.serialGrants], '188:0,4:64');
  }
  const none = request144({ ...serial, deviceGrants: [] });
  assert.deepEqual([none.create.HostConfig?.DeviceCgroupRules, none.create.Labels?.[LABEL.serialGrants]], [[], ''], 'nothing plugged in at create');
  const nic = request144({ ...input, spec: { ...spec, dedicatedInterface: 'enp4s0' } });
  assert.deepEqual(nic.create.HostConfig?.CapAdd, ['SYS_NICE', 'NET_RAW', 'NET_ADMIN']);
  assert.equal(nic.create.HostConfig?.DeviceCgroupRules, undefined);
});

test('ORCH_CONTAINER_LOG: the bounded log on both request forms; "daemon" leaves the engine\'s default', () => {
  const log = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } };
  for (const r of [request144({ ...input, log }), requestBelow144({ ...input, log })]) assert.deepEqual(r.create.HostConfig?.LogConfig, log);
  assert.equal(request144(input).create.HostConfig?.LogConfig, undefined);
});

test('memory and pids limits: absent unless set; memory without swap beyond it; the same on both generations', () => {
  for (const build of [request144, requestBelow144]) {
    const none = build(input).create.HostConfig!;
    assert.deepEqual([none.Memory, none.MemorySwap, none.PidsLimit], [undefined, undefined, undefined]);
    const both = build({ ...input, limits: { memory: 256 * 2 ** 20, pids: 512 } }).create.HostConfig!;
    assert.deepEqual([both.Memory, both.MemorySwap, both.PidsLimit], [256 * 2 ** 20, 256 * 2 ** 20, 512]);
    const pids = build({ ...input, limits: { memory: null, pids: 64 } }).create.HostConfig!;
    assert.deepEqual([pids.Memory, pids.PidsLimit], [undefined, 64]);
  }
});
