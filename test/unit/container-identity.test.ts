import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { keepIdentity, specFromEndpoints, tagOf, withNamespace, type MacvlanEndpoint } from '../../src/reconcilers/container-identity.js';

const ep = (over: Partial<MacvlanEndpoint> = {}): MacvlanEndpoint => ({
  network: 'macvlan_eth1_198.51.100.0_24', parent: 'eth1', subnet: '198.51.100.0/24', gateway: '198.51.100.1', mac: '02:42:c6:33:64:0a', ip: '198.51.100.10', staticIp: true, ...over,
});

test('adoption keeps the MAC (and a static address) the container has on each parent', () => {
  const v1: RuntimeSpec = { name: 'plc', runtimeVersion: 'latest', vnics: [
    { name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.9', subnet: '198.51.100.0/24', dns: [] },
    { name: 'eth1', parentInterface: 'eth2', mode: 'dhcp', dns: [] },
  ] };
  const kept = keepIdentity(v1, [ep(), ep({ network: 'macvlan_eth2_203.0.113.0_24', parent: 'eth2', mac: '02:42:cb:00:71:05', ip: '203.0.113.5', staticIp: false })]);
  assert.equal(kept.vnics[0]!.mac, '02:42:c6:33:64:0a');
  assert.equal(kept.vnics[0]!.ip, '198.51.100.10', 'the address it really has');
  assert.equal(kept.vnics[1]!.mac, '02:42:cb:00:71:05');
  assert.equal(kept.vnics[1]!.mode, 'dhcp', 'a dhcp vNIC stays dhcp with its MAC');
  assert.equal(kept.vnics[1]!.ip, undefined);
  assert.deepEqual(keepIdentity(v1, []), v1, 'no endpoint on that parent: unchanged');
});

test('a spec read back from a container without a spec label: its endpoints as they are', () => {
  const s = specFromEndpoints('plc', 'registry.local:5000/openplc:v4', ['198.51.100.1'], [ep(), ep({ parent: 'eth2', subnet: '203.0.113.0/24', gateway: null, mac: '02:00:00:00:00:02', ip: '203.0.113.7', staticIp: false })]);
  assert.deepEqual(s, {
    name: 'plc',
    runtimeVersion: 'v4',
    vnics: [
      { name: 'eth0', parentInterface: 'eth1', mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/24', gateway: '198.51.100.1', dns: ['198.51.100.1'], mac: '02:42:c6:33:64:0a' },
      { name: 'eth1', parentInterface: 'eth2', mode: 'dhcp', subnet: '203.0.113.0/24', dns: [], mac: '02:00:00:00:00:02' },
    ],
  });
  assert.equal(specFromEndpoints('plc', 'img', [], []), null, 'no MACVLAN endpoint: nothing to rebuild');
});

test('image tags: a registry port is not a tag', () => {
  assert.equal(tagOf('registry.local:5000/openplc'), 'latest');
  assert.equal(tagOf('registry.local:5000/openplc:v4'), 'v4');
  assert.equal(tagOf('openplc'), 'latest');
});

test('adoption reads each endpoint as its interface is in the namespace (found by its parent): the MAC set there, a lease that replaced Docker\'s address', () => {
  const dhcp = ep({ network: 'macvlan_eth2_203.0.113.0_24', parent: 'eth2', mac: '02:42:cb:00:71:02', ip: '203.0.113.2', staticIp: false });
  const ns = [
    { mac: '36:A5:DC:C1:5D:B5', ipv4: ['203.0.113.44'], parent: 'eth2' },
    { mac: '02:42:c6:33:64:0a', ipv4: ['198.51.100.10'], parent: 'eth1' },
    { mac: '02:42:c6:12:00:02', ipv4: ['198.18.0.2'], parent: null },
  ];
  const [s, d] = withNamespace([ep(), dhcp], ns);
  assert.equal(d!.mac, '36:a5:dc:c1:5d:b5', "the MAC the LAN knows, not Docker's record");
  assert.equal(d!.leased, '203.0.113.44');
  assert.equal(s!.mac, '02:42:c6:33:64:0a');
  assert.equal(s!.leased, undefined, 'a static address is never a lease');
  const [still] = withNamespace([dhcp], [{ mac: '02:42:cb:00:71:02', ipv4: ['203.0.113.2'], parent: 'eth2' }]);
  assert.equal(still!.leased, undefined, "Docker's address still there: no lease");
  assert.deepEqual(withNamespace([dhcp], null), [dhcp], 'netmon cannot tell: Docker\'s record');
  assert.deepEqual(withNamespace([dhcp], [{ mac: '36:a5:dc:c1:5d:b5', ipv4: ['203.0.113.2'], parent: 'eth9' }]), [dhcp], 'never matched by an address');
});
