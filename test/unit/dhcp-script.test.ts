import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseScriptLine, prefixOf, retryDelayMs } from '../../src/netmon/dhcp.js';

test('prefix from busybox: `mask` as a number, else the dotted `subnet` (never "24" → /2)', () => {
  assert.equal(prefixOf('24', '255.255.255.0'), 24);
  assert.equal(prefixOf('', '255.255.255.192'), 26);
  assert.equal(prefixOf('', '255.255.0.0'), 16);
  assert.equal(prefixOf('', '255.0.255.0'), null, 'not a netmask');
  assert.equal(prefixOf('', 'garbage'), null);
  assert.equal(prefixOf('33', ''), null);
});

test('a bound line becomes a lease with routes, DNS, MTU and lease time', () => {
  const p = parseScriptLine(['ORCH_DHCP', 'bound', 'eth1', '203.0.113.41', '26', '255.255.255.192', '203.0.113.62 203.0.113.61', '203.0.113.62 198.51.100.1', '60', '1400', '198.51.100.0/24 203.0.113.62'].join('\t'));
  assert.deepEqual(p, {
    event: 'bound',
    iface: 'eth1',
    lease: { ip: '203.0.113.41', prefix: 26, gateway: '203.0.113.62', dns: ['203.0.113.62', '198.51.100.1'], leaseTime: 60, mtu: 1400, routes: [{ dest: '198.51.100.0/24', via: '203.0.113.62' }] },
  });
});

test('other events carry no lease; garbage and foreign lines are ignored; a lease without a netmask is invalid', () => {
  assert.deepEqual(parseScriptLine(['ORCH_DHCP', 'leasefail', 'eth1', '', '', '', '', '', '', '', ''].join('\t')), { event: 'leasefail', iface: 'eth1', lease: null });
  assert.equal(parseScriptLine('udhcpc: sending discover'), null);
  assert.equal(parseScriptLine('ORCH_DHCP\tbound'), null);
  assert.deepEqual(parseScriptLine(['ORCH_DHCP', 'bound', 'eth1', '203.0.113.41', '', '', '', '', '', '', ''].join('\t')), { event: 'invalid', iface: 'eth1', lease: null });
});

test('a client that keeps exiting is retried after 1 s·2ⁿ, capped at 5 min, ±30 %', () => {
  assert.deepEqual([1, 2, 3, 10].map((n) => retryDelayMs(n, () => 0.5)), [1000, 2000, 4000, 300_000]);
  assert.equal(retryDelayMs(1, () => 0), 700);
  assert.equal(Math.round(retryDelayMs(1, () => 1)), 1300);
});
