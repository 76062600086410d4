// The spec hash is pinned: an agent upgrade that changed it would re-create every PLC of every box.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeCreateRequest, type RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { hashMatches, specHash } from '../../src/domain/spec-hash.js';

const specOf = (req: unknown): RuntimeSpec => {
  const n = normalizeCreateRequest(req);
  if (!n.ok) throw new Error(n.error);
  return n.spec;
};
const plc1 = specOf({ container_name: 'plc-1', vnic_configs: [{ name: 'eth0', parent_interface: 'enp3s0', network_mode: 'static', ip: '192.168.1.100', subnet: '255.255.255.0', gateway: '192.168.1.1', dns: ['192.168.1.1'] }] });
const plc2 = specOf({
  container_name: 'plc-2',
  runtime_version: 'v4.1',
  vnic_configs: [
    { parent_interface: 'eth0', network_mode: 'dhcp' },
    { name: 'field', parent_interface: 'eth1', network_mode: 'static', ip: '10.0.0.5/24', mac: '02:11:22:33:44:55', dns: ['10.0.0.1', '10.0.0.2'] },
  ],
});

test('golden values: the hashes the first release (0.1) put on containers', () => {
  // Computed by 0.1's specHash(spec, "ghcr.io/autonomy-logic/openplc-runtime:<tag>").
  assert.equal(specHash(plc1), '35c4cde64f77729e');
  assert.equal(specHash(plc2), 'fb3e856175585023');
});

test('absent, null, empty string and [] optional fields hash alike (new fields never re-create old runtimes)', () => {
  for (const extra of [{}, { serialConfigs: [] }, { serialConfigs: null }, { dedicatedInterface: null }, { dedicatedInterface: '' }, { somethingUnknown: 'x' }]) {
    assert.equal(specHash({ ...plc1, ...extra } as RuntimeSpec), '35c4cde64f77729e', JSON.stringify(extra));
  }
  assert.notEqual(specHash({ ...plc1, dedicatedInterface: 'eth2' }), '35c4cde64f77729e');
});

test('what the spec says changes the hash; the name alone does not enter it', () => {
  assert.notEqual(specHash({ ...plc1, runtimeVersion: 'v2' }), specHash(plc1));
  assert.notEqual(specHash({ ...plc1, vnics: [{ ...plc1.vnics[0]!, ip: '192.168.1.101' }] }), specHash(plc1));
});

test('a container labelled by 0.1 from another repository is up to date, whatever ORCH_RUNTIME_IMAGE says now', () => {
  // 0.1 hashed the configured repository: specHash(plc1, "registry.local/plc:latest") was e0f4c15414f41856.
  assert.ok(hashMatches('e0f4c15414f41856', plc1, 'registry.local/plc:latest'));
  assert.ok(hashMatches('35c4cde64f77729e', plc1, 'registry.local:5000/other:latest'));
  assert.ok(!hashMatches('e0f4c15414f41856', plc1, 'registry.local/other:latest'));
  assert.ok(!hashMatches(undefined, plc1, 'registry.local/plc:latest'));
});
